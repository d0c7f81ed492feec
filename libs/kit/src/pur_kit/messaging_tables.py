"""The outbox and inbox tables every publishing/consuming service carries in its own database."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Identity, MetaData, String, Table, Text, func

NOTIFY_CHANNEL = "pur_outbox"


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox_message",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("event_name", String(128), nullable=False),
        Column("routing_key", String(255), nullable=False),
        Column("payload", Text, nullable=False),  # JSON text, published as-is (no re-encoding)
        Column("correlation_id", String(128)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox_message",
        metadata,
        Column("consumer", String(128), primary_key=True),
        Column("message_id", String(128), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


# One NOTIFY per inserting statement wakes the relay as soon as the transaction commits
# (PostgreSQL delivers notifications on commit only, and drops them on rollback).
CREATE_NOTIFY_TRIGGER = (
    f"""CREATE OR REPLACE FUNCTION outbox_message_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER outbox_message_notify AFTER INSERT ON outbox_message
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_message_notify()""",
)
DROP_NOTIFY_TRIGGER = (
    "DROP TRIGGER IF EXISTS outbox_message_notify ON outbox_message",
    "DROP FUNCTION IF EXISTS outbox_message_notify()",
)
