"""The directory, the settings projection, import runs, drop-folder pickups, outbox and inbox.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op
from pur_kit.migrations import create_messaging_tables, drop_messaging_tables
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NO_PERMISSIONS = '{"district_admin": false, "users_manager": null}'


def _now():
    return sa.func.now()


def upgrade() -> None:
    create_messaging_tables(op)
    op.create_table(
        "district",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    )
    op.create_table(
        "district_settings",
        sa.Column("district_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("contact_details_auto_update", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    )
    op.create_table(
        "school",
        sa.Column("district_id", sa.String(64), sa.ForeignKey("district.id", name="fk_school_district_id_district"),
                  nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("district_id", "id", name="pk_school"),
    )
    op.create_table(
        "directory_user",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("district_id", sa.String(64),
                  sa.ForeignKey("district.id", name="fk_directory_user_district_id_district"), nullable=False),
        sa.Column("sis_id", sa.String(255), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("given_name", sa.Text, nullable=False),
        sa.Column("family_name", sa.Text, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("sms", sa.Text),
        sa.Column("school_ids", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("agent_sis_ids", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("permissions", JSONB, nullable=False, server_default=sa.text(f"'{NO_PERMISSIONS}'::jsonb")),
        sa.Column("email_self_edited", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("phone_self_edited", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("sms_self_edited", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("contact_self_edited_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.UniqueConstraint("district_id", "sis_id", name="uq_directory_user_district_id_sis_id"),
    )
    op.create_index("ix_directory_user_district_id_role", "directory_user", ["district_id", "role"])
    op.create_index("ix_directory_user_school_ids", "directory_user", ["school_ids"], postgresql_using="gin")
    op.create_table(
        "sis_import_run",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("district_id", sa.String(64),
                  sa.ForeignKey("district.id", name="fk_sis_import_run_district_id_district"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_name", sa.Text),
        sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("rows_done", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("rows_total", sa.Integer),
        sa.Column("counts", JSONB),
        sa.Column("errors", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("error_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("failure", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')",
                           name="ck_sis_import_run_status"),
    )
    op.create_index("uq_sis_import_run_one_active_per_district", "sis_import_run", ["district_id"], unique=True,
                    postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.create_index("ix_sis_import_run_district_id_created_at", "sis_import_run", ["district_id", "created_at"])
    op.create_table(
        "drop_pickup",
        sa.Column("district_id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("run_id", UUID(as_uuid=True)),
        sa.Column("picked_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("district_id", "fingerprint", name="pk_drop_pickup"),
    )


def downgrade() -> None:
    for table in ("drop_pickup", "sis_import_run", "directory_user", "school", "district_settings", "district"):
        op.drop_table(table)
    drop_messaging_tables(op)
