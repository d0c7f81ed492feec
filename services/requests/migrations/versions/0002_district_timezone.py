"""The district's time zone in the settings projection (pages show times in it).

Existing rows get NULL: the service asks settings for a replay at start while any row has no time
zone, and a replay of the same version fills it in (see adapters/projection_store.py).

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE district_settings ADD COLUMN timezone varchar(64)")


def downgrade() -> None:
    op.execute("ALTER TABLE district_settings DROP COLUMN timezone")
