"""CSV export of a Manage Requests tab, safe to open in a spreadsheet."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

from ..domain.changes import FIELDS

# A cell starting with one of these is a formula to Excel/LibreOffice/Sheets (CSV injection):
# prefixing a quote makes it text. Phone numbers ("+1555...") are shown as '+1555... for that reason.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

HEADER = ["id", "submitted_at", "status", "requester", "requester_id", "schools",
          *[f"{f}_{kind}" for f in FIELDS for kind in ("current", "requested")],
          "note", "appears_applied", "done_at", "done_by"]


def safe_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_chunk(rows: Iterable, school_names: Mapping[str, str], *, header: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(HEADER)
    for row in rows:
        requested = {c["field"]: c["requested"] for c in row["changes"]}
        per_field = []
        for f in FIELDS:
            per_field += [row[f"current_{f}"] if f in requested else None, requested.get(f)]
        cells = [row["id"], row["submitted_at"].isoformat(), row["status"], row["requester_name"],
                 row["requester_id"], "; ".join(school_names.get(s, s) for s in row["school_ids"]),
                 *per_field, row["note"], row["appears_applied"],
                 row["done_at"].isoformat() if row["done_at"] else None, row["done_by"]]
        writer.writerow([safe_cell(c) for c in cells])
    return out.getvalue()
