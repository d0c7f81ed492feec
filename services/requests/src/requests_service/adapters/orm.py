"""Tables of the requests database: requests and their history, the settings and directory
projections, the outbox and the inbox. The schema language of the Alembic migrations (migrations/),
which create the schema; the service itself reads and writes through asyncpg (the repositories)."""
from __future__ import annotations

from pur_kit.db import make_metadata
from pur_kit.messaging_tables import inbox_table, outbox_table
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Integer,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = make_metadata()
OUTBOX = outbox_table(metadata)
INBOX = inbox_table(metadata)

district_settings = Table(
    "district_settings", metadata,
    Column("district_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("profile_update_requests_enabled", Boolean, nullable=False),
    Column("contact_details_auto_update", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("timezone", String(64)),  # NULL until the settings say (migration 0002)
)

school = Table(
    "school", metadata,
    Column("district_id", String(64), primary_key=True),
    Column("id", String(255), primary_key=True),
    Column("name", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
)

directory_user = Table(
    "directory_user", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sis_id", String(255), nullable=False),
    Column("role", String(64), nullable=False),
    Column("given_name", Text, nullable=False),
    Column("family_name", Text, nullable=False),
    Column("email", Text),
    Column("phone", Text),
    Column("sms", Text),
    Column("school_ids", ARRAY(Text), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("district_admin", Boolean, nullable=False),
    Column("manager_scope", String(16)),  # NULL | 'district' | 'schools'
    Column("manager_school_ids", ARRAY(Text), nullable=False),
)

request = Table(
    "request", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("requester_id", UUID(as_uuid=True), nullable=False),
    Column("requester_name", Text, nullable=False),
    Column("school_ids", ARRAY(Text), nullable=False),
    Column("status", String(8), nullable=False),
    Column("changes", JSONB, nullable=False),
    Column("note", Text),
    Column("appears_applied", Boolean, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True)),
    Column("done_by", String(64)),
    Column("version", Integer, nullable=False),
    Column("idempotency_key", String(255)),
    Column("idempotency_fingerprint", String(64)),
)

request_school = Table(
    "request_school", metadata,
    Column("request_id", UUID(as_uuid=True), primary_key=True),
    Column("school_id", String(255), primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("status", String(8), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
)

request_history = Table(
    "request_history", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("request_id", UUID(as_uuid=True), nullable=False),
    Column("action", String(16), nullable=False),
    Column("by", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
