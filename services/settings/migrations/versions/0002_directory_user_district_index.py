"""Index directory_user by district: settings exist only for districts the directory told us of.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_directory_user_district_id ON directory_user (district_id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_directory_user_district_id")
