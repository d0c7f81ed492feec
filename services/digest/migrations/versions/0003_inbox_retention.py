"""A BRIN index on inbox_message.processed_at, for the inbox retention job (pur_kit.inbox_retention).

Without it, each pass of the job would read the whole inbox to find the rows older than
INBOX_RETENTION_DAYS; with it, only the block ranges that hold them. See libs/kit/README.md
("Inbox retention").

Revision ID: 0003
Revises: 0002
"""
from alembic import op
from pur_kit.migrations import create_inbox_retention_index, drop_inbox_retention_index

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_inbox_retention_index(op)


def downgrade() -> None:
    drop_inbox_retention_index(op)
