"""Tables of the settings database as SQLAlchemy metadata, for Alembic (migrations/versions creates
them); the service itself queries them with asyncpg (repository.py)."""
from __future__ import annotations

from pur_kit.db import make_metadata
from pur_kit.messaging_tables import inbox_table, outbox_table
from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Uuid

metadata = make_metadata()
outbox_table(metadata)
inbox_table(metadata)

district_settings = Table(
    "district_settings", metadata,
    Column("district_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("profile_update_requests_enabled", Boolean, nullable=False),
    Column("daily_digest_enabled", Boolean, nullable=False),
    Column("digest_local_time", String(5), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("contact_details_auto_update", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", String(64)),
)

directory_user = Table(
    "directory_user", metadata,
    Column("id", Uuid, primary_key=True),
    Column("district_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("district_admin", Boolean, nullable=False),
    Index("ix_directory_user_district_id", "district_id"),  # which districts exist (migration 0002)
)
