"""Tables of the digest database (created by migrations/versions/0001_initial.py and 0002, which hold
the indexes and say why each exists)."""
from __future__ import annotations

from pur_kit.db import make_metadata
from pur_kit.messaging_tables import inbox_table, outbox_table
from sqlalchemy import Boolean, Column, Date, DateTime, Integer, String, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY

metadata = make_metadata()
OUTBOX = outbox_table(metadata)
INBOX = inbox_table(metadata)

# --- projections ---------------------------------------------------------------------------
district_settings = Table(
    "district_settings", metadata,
    Column("district_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("digest_enabled", Boolean, nullable=False),
    Column("digest_local_time", String(5), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
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
    Column("id", Uuid, primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("given_name", Text, nullable=False),
    Column("family_name", Text, nullable=False),
    Column("email", Text),
    Column("school_ids", ARRAY(Text), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("district_admin", Boolean, nullable=False),
    Column("manager_scope", String(16)),
    Column("manager_school_ids", ARRAY(Text), nullable=False),
)

request = Table(
    "request", metadata,
    Column("id", Uuid, primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("requester_id", Uuid, nullable=False),
    Column("requester_name", Text, nullable=False),
    Column("school_ids", ARRAY(Text), nullable=False),
    Column("status", String(8), nullable=False),
    Column("fields", ARRAY(Text), nullable=False),
    Column("has_note", Boolean, nullable=False),
    Column("appears_applied", Boolean, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False),
)

# One row per (New request, school of its requester): the school-scope selection.
request_school = Table(
    "request_school", metadata,
    Column("request_id", Uuid, primary_key=True),
    Column("school_id", String(255), primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("shared", Boolean, nullable=False),   # the request has several schools
)

# --- what this service owns ----------------------------------------------------------------
digest_run = Table(
    "digest_run", metadata,
    Column("id", Uuid, primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("local_date", Date, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("sent", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
)

digest_delivery = Table(
    "digest_delivery", metadata,
    Column("id", Uuid, primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("recipient_id", Uuid, nullable=False),
    Column("local_date", Date, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("request_ids", ARRAY(Uuid), nullable=False),
    Column("total_open", Integer, nullable=False),
    Column("new_count", Integer, nullable=False),
    Column("content_as_of", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("message_id", Text, nullable=False),
    Column("run_id", Uuid),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# A Users Manager who unsubscribed from the digest (the one-click link of an email, or the API).
digest_opt_out = Table(
    "digest_opt_out", metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("opted_out_at", DateTime(timezone=True), nullable=False),
    Column("via", String(16), nullable=False),
)
