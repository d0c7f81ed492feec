"""CSV cells that a spreadsheet would run as formulas; opaque list cursors."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
from pur_kit.cursor import BadCursor
from requests_service.adapters.csv_export import safe_cell
from requests_service.views import Cursor


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+2", "'=1+2"), ("+15555550100", "'+15555550100"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("plain", "plain"), (None, ""), (True, "yes"), (3, "3"),
])
def test_formula_cells_are_prefixed_with_a_quote(value, cell):
    assert safe_cell(value) == cell


def test_a_cursor_round_trips_and_garbage_is_refused():
    c = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4())
    assert Cursor.decode(c.encode()) == c
    naive = base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00", str(uuid.uuid4())]).encode()).decode()
    for bad in ("", "!!", "YWJj", naive):
        with pytest.raises(BadCursor):
            Cursor.decode(bad)
