"""Manage Requests' field filter: one partial index per requested field (and one for note-only
requests), each in the tabs' order.

With them, a tab filtered by field is walked, and counted, as an index-only range scan of just the
matching requests; without them every request of the district had to be read from the table
(measured at 120,000 requests in a district: 100-150 ms per count, a sequential scan). A request
asks for one or two fields, so a submission adds one or two small index entries.
The predicates are `views.FIELD_CONDITIONS` word for word: the planner uses a partial index only
when the statement holds the same constant. See services/requests/README.md ("Indexes").

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FIELDS = ("given_name", "family_name", "email", "phone", "sms")
PREDICATES = {**{f"ix_request_field_{f}": f"""changes @> '[{{"field": "{f}"}}]'::jsonb""" for f in FIELDS},
              "ix_request_note_only": "changes = '[]'::jsonb"}


def upgrade() -> None:
    for name, predicate in PREDICATES.items():
        op.execute(f"CREATE INDEX {name} ON request (district_id, status, submitted_at, id) WHERE {predicate}")


def downgrade() -> None:
    for name in PREDICATES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
