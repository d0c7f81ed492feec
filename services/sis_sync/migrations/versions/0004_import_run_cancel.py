"""Import runs can be cancelled: a request is noted for the run, whichever process owns it.

A table of its own, not columns of the run: a run holds its row locked for the whole apply
transaction, and a cancel must neither wait for that nor be lost.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sis_import_cancel",
        sa.Column("run_id", UUID(as_uuid=True), sa.ForeignKey("sis_import_run.id", ondelete="CASCADE",
                                                              name="fk_sis_import_cancel_run_id_sis_import_run"),
                  nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("run_id", name="pk_sis_import_cancel"),
    )


def downgrade() -> None:
    op.drop_table("sis_import_cancel")
