"""Write the AsyncAPI document of every service to docs/asyncapi/<service>.json (`make docs`).

`--check` compares instead of writing and exits 1 when a document is stale.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from pur_kit.asyncapi import asyncapi_document, render

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "asyncapi"
SERVICES = {"requests": "requests_service", "settings": "settings_service",
            "digest": "digest_service", "sis_sync": "sis_sync_service"}
# Fixed, so the documents do not depend on the machine that generates them.
DOC_BROKER_URL = "amqp://guest:guest@rabbitmq:5672/"


def documents() -> dict[str, str]:
    out = {}
    for service, package in SERVICES.items():
        settings_cls = importlib.import_module(f"{package}.config").Settings
        create_app = importlib.import_module(f"{package}.entrypoints.app").create_app
        app = create_app(settings_cls(rabbitmq_url=DOC_BROKER_URL, events_namespace="pur"))
        out[service] = render(asyncapi_document(app.state.runtime, f"{service} service"))
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for service, text in documents().items():
        path = OUT / f"{service}.json"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale AsyncAPI documents (run `make docs`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
