"""Personal opt-out of the daily digest: one row per Users Manager who unsubscribed.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Keyed by the manager's user id: the opt-out is the person's, whatever their district or scope
    # becomes. A row exists while they are opted out; subscribing again deletes it. The recipients
    # query looks it up per manager by primary key (a few thousand per run at most).
    op.execute("""CREATE TABLE digest_opt_out (
        user_id uuid PRIMARY KEY,
        district_id varchar(64) NOT NULL,
        opted_out_at timestamptz NOT NULL,
        via varchar(16) NOT NULL,
        CONSTRAINT ck_digest_opt_out_via CHECK (via IN ('email_link', 'api')))""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS digest_opt_out")
