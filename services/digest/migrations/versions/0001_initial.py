"""Projections (settings, directory, requests), digest runs and deliveries, outbox, inbox.

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
    """CREATE TABLE district_settings (
        district_id varchar(64) PRIMARY KEY,
        version integer NOT NULL,
        enabled boolean NOT NULL,
        digest_enabled boolean NOT NULL,
        digest_local_time varchar(5) NOT NULL,
        timezone varchar(64) NOT NULL,
        updated_at timestamptz NOT NULL)""",
    """CREATE TABLE school (
        district_id varchar(64) NOT NULL,
        id varchar(255) NOT NULL,
        name text NOT NULL,
        active boolean NOT NULL,
        version integer NOT NULL,
        CONSTRAINT pk_school PRIMARY KEY (district_id, id))""",
    """CREATE TABLE directory_user (
        id uuid PRIMARY KEY,
        district_id varchar(64) NOT NULL,
        version integer NOT NULL,
        given_name text NOT NULL,
        family_name text NOT NULL,
        email text,
        school_ids text[] NOT NULL DEFAULT '{}',
        active boolean NOT NULL,
        district_admin boolean NOT NULL,
        manager_scope varchar(16),
        manager_school_ids text[] NOT NULL DEFAULT '{}',
        CONSTRAINT ck_directory_user_manager_scope CHECK (manager_scope IN ('district', 'schools')))""",
    # The recipients of a district's run: its active Users Managers only (a small part of the directory).
    """CREATE INDEX ix_directory_user_district_id_managers
        ON directory_user (district_id) WHERE manager_scope IS NOT NULL AND active""",
    """CREATE TABLE request (
        id uuid PRIMARY KEY,
        district_id varchar(64) NOT NULL,
        requester_id uuid NOT NULL,
        requester_name text NOT NULL,
        school_ids text[] NOT NULL,
        status varchar(8) NOT NULL,
        fields text[] NOT NULL,
        has_note boolean NOT NULL,
        appears_applied boolean NOT NULL,
        submitted_at timestamptz NOT NULL,
        done_at timestamptz,
        version integer NOT NULL,
        CONSTRAINT ck_request_status CHECK (status IN ('new', 'done')))""",
    # District scope: count / oldest / newest-N of New requests straight from the index.
    """CREATE INDEX ix_request_district_id_status_submitted_at_id
        ON request (district_id, status, submitted_at DESC, id DESC)""",
    # A directory update of a requester refreshes the name and schools on their requests.
    "CREATE INDEX ix_request_requester_id ON request (requester_id)",
    # School scope: one row per (New request, school of its requester); rows leave when it is done.
    # `shared`: the request has several schools, so a manager of two of them must count it once.
    """CREATE TABLE request_school (
        request_id uuid NOT NULL,
        school_id varchar(255) NOT NULL,
        district_id varchar(64) NOT NULL,
        submitted_at timestamptz NOT NULL,
        shared boolean NOT NULL,
        CONSTRAINT pk_request_school PRIMARY KEY (request_id, school_id))""",
    # Count, oldest and newest-N of a school's New requests from the index alone.
    """CREATE INDEX ix_request_school_district_id_school_id_submitted_at
        ON request_school (district_id, school_id, submitted_at DESC, request_id DESC) INCLUDE (shared)""",
    # Requests at several schools: how many a multi-school manager would otherwise count twice.
    """CREATE INDEX ix_request_school_district_id_school_id_shared
        ON request_school (district_id, school_id, request_id) WHERE shared""",
    """CREATE TABLE digest_run (
        id uuid PRIMARY KEY,
        district_id varchar(64) NOT NULL,
        local_date date NOT NULL,
        trigger varchar(16) NOT NULL,
        status varchar(16) NOT NULL,
        owner varchar(64) NOT NULL,
        started_at timestamptz NOT NULL,
        lease_until timestamptz NOT NULL,
        finished_at timestamptz,
        sent integer NOT NULL DEFAULT 0,
        skipped integer NOT NULL DEFAULT 0,
        failed integer NOT NULL DEFAULT 0,
        CONSTRAINT ck_digest_run_trigger CHECK (trigger IN ('schedule', 'manual')),
        CONSTRAINT ck_digest_run_status CHECK (status IN ('running', 'completed')))""",
    # One scheduled run per district and local date; the lease in it lets one replica do the work.
    """CREATE UNIQUE INDEX uq_digest_run_district_id_local_date_scheduled
        ON digest_run (district_id, local_date) WHERE trigger = 'schedule'""",
    """CREATE TABLE digest_delivery (
        id uuid PRIMARY KEY,
        district_id varchar(64) NOT NULL,
        recipient_id uuid NOT NULL,
        local_date date NOT NULL,
        status varchar(20) NOT NULL,
        attempts integer NOT NULL,
        request_ids uuid[] NOT NULL,
        total_open integer NOT NULL,
        new_count integer NOT NULL,
        content_as_of timestamptz NOT NULL,
        claimed_at timestamptz NOT NULL,
        sent_at timestamptz,
        next_attempt_at timestamptz,
        last_error text,
        message_id text NOT NULL,
        run_id uuid,
        updated_at timestamptz NOT NULL,
        -- The exactly-once guarantee: one delivery per person and local day, ever.
        CONSTRAINT uq_digest_delivery_recipient_id_local_date UNIQUE (recipient_id, local_date),
        CONSTRAINT ck_digest_delivery_status CHECK (status IN
            ('claimed', 'sent', 'retrying', 'failed_permanent', 'unknown', 'cancelled')))""",
    # The delivery log of a district (newest day first).
    """CREATE INDEX ix_digest_delivery_district_id_local_date
        ON digest_delivery (district_id, local_date DESC, recipient_id)""",
    # The scheduler's sweeps: due retries, and claims left behind by a dead process.
    """CREATE INDEX ix_digest_delivery_next_attempt_at
        ON digest_delivery (next_attempt_at) WHERE status = 'retrying'""",
    """CREATE INDEX ix_digest_delivery_claimed_at
        ON digest_delivery (claimed_at) WHERE status = 'claimed'""",
]


def upgrade() -> None:
    create_messaging_tables(op)
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("digest_delivery", "digest_run", "request_school", "request", "directory_user", "school",
                  "district_settings"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    drop_messaging_tables(op)
