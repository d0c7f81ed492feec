"""District settings, the directory projection (who may change them), outbox and inbox.

Revision ID: 0001
Revises:
"""
from alembic import op
from pur_kit.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = [
    # One row per district that was ever written; a missing row (or version 0) reads as the defaults.
    """CREATE TABLE district_settings (
        district_id varchar(64) PRIMARY KEY,
        version integer NOT NULL,
        profile_update_requests_enabled boolean NOT NULL,
        daily_digest_enabled boolean NOT NULL,
        digest_local_time varchar(5) NOT NULL,
        timezone varchar(64) NOT NULL,
        contact_details_auto_update boolean NOT NULL,
        updated_at timestamptz,
        updated_by varchar(64),
        CONSTRAINT ck_district_settings_version CHECK (version >= 0),
        CONSTRAINT ck_district_settings_digest_local_time
            CHECK (digest_local_time ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'))""",
    # Only what authorization needs: no names or contact details are kept here.
    """CREATE TABLE directory_user (
        id uuid PRIMARY KEY,
        district_id varchar(64) NOT NULL,
        version integer NOT NULL,
        active boolean NOT NULL,
        district_admin boolean NOT NULL)""",
]


def upgrade() -> None:
    create_messaging_tables(op)
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("directory_user", "district_settings"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    drop_messaging_tables(op)
