"""The AsyncAPI document of a service, generated from its broker (subscribers and publications)."""
from __future__ import annotations

import json

from faststream import AsyncAPI

from .runtime import ServiceRuntime


def asyncapi_document(runtime: ServiceRuntime, title: str) -> dict:
    spec = AsyncAPI(runtime.broker, title=title, version="1.0.0", schema_version="3.0.0")
    return json.loads(spec.to_specification().to_json())


def render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
