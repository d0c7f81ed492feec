"""The service's tables: the directory, the settings projection, import runs, messaging tables.

Migrations are hand-written (migrations/versions); these definitions are the query side and must
stay in step with them.
"""
from __future__ import annotations

from pur_kit.db import make_metadata
from pur_kit.messaging_tables import inbox_table, outbox_table
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = make_metadata()
OUTBOX = outbox_table(metadata)
INBOX = inbox_table(metadata)

NO_PERMISSIONS = '{"district_admin": false, "users_manager": null}'

district = Table(
    "district", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Projection of settings.district.changed: only what the sync needs.
district_settings = Table(
    "district_settings", metadata,
    Column("district_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("contact_details_auto_update", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

school = Table(
    "school", metadata,
    Column("district_id", String(64), ForeignKey("district.id"), nullable=False),
    Column("id", String(255), nullable=False),
    Column("name", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("district_id", "id"),
)

directory_user = Table(
    "directory_user", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    # No foreign key (migration 0002): imports create the district first and lock it while writing.
    Column("district_id", String(64), nullable=False),
    Column("sis_id", String(255), nullable=False),
    Column("role", String(64), nullable=False),
    Column("given_name", Text, nullable=False),
    Column("family_name", Text, nullable=False),
    Column("email", Text),
    Column("phone", Text),
    Column("sms", Text),
    Column("school_ids", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # OneRoster agentSourcedIds as given on this user's row. Links are undirected: exports disagree on
    # whether the parent's row or the student's lists the other; the roles tell who is the guardian.
    Column("agent_sis_ids", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    # Connect-side grants (the contract's UserPermissions), never touched by a sync.
    Column("permissions", JSONB, nullable=False, server_default=text(f"'{NO_PERMISSIONS}'::jsonb")),
    Column("email_self_edited", Boolean, nullable=False, server_default=text("false")),
    Column("phone_self_edited", Boolean, nullable=False, server_default=text("false")),
    Column("sms_self_edited", Boolean, nullable=False, server_default=text("false")),
    Column("contact_self_edited_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("district_id", "sis_id"),
    Index("ix_directory_user_district_id_role", "district_id", "role"),
    Index("ix_directory_user_school_ids", "school_ids", postgresql_using="gin"),
)

sis_import_run = Table(
    "sis_import_run", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("district_id", String(64), ForeignKey("district.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("phase", String(16), nullable=False, server_default="queued"),
    Column("source", String(16), nullable=False),  # upload | cli | drop_folder
    Column("source_name", Text),
    Column("forced", Boolean, nullable=False, server_default=text("false")),
    Column("rows_done", Integer, nullable=False, server_default=text("0")),
    Column("rows_total", Integer),
    Column("counts", JSONB),
    Column("errors", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("error_count", Integer, nullable=False, server_default=text("0")),
    Column("warnings", JSONB, nullable=False, server_default=text("'[]'::jsonb")),  # migration 0003
    Column("failure", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
    # One run per district at a time: a second start violates this index (-> 409).
    Index("uq_sis_import_run_one_active_per_district", "district_id", unique=True,
          postgresql_where=text("status IN ('queued', 'running')")),
    Index("ix_sis_import_run_district_id_created_at", "district_id", "created_at"),
)

# Cancel requests (migration 0004), apart from the run row that its apply transaction holds locked.
sis_import_cancel = Table(
    "sis_import_cancel", metadata,
    Column("run_id", UUID(as_uuid=True), ForeignKey("sis_import_run.id", ondelete="CASCADE"), primary_key=True),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Drop-folder files already picked up, by a fingerprint of name, modification time and size.
drop_pickup = Table(
    "drop_pickup", metadata,
    Column("district_id", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("run_id", UUID(as_uuid=True)),
    Column("picked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("district_id", "fingerprint"),
)
