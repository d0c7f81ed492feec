"""Drop the directory_user -> district foreign key.

Its per-row trigger cost about a second per 100,000 users in a roster import. The district always
exists first: an import creates it (run_store.insert_run, roster_apply.lock_district) and holds its
row lock while writing users, and districts are never deleted.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("fk_directory_user_district_id_district", "directory_user", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key("fk_directory_user_district_id_district", "directory_user", "district",
                          ["district_id"], ["id"])
