"""Per-route request body limits.

The kit caps every body at `max_body_bytes`; this service raises that cap for roster uploads
(`SIS_SYNC_MAX_BODY_BYTES`, 200 MB by default) and puts the 64 KiB limit back on every other route
here, streaming (the body is never buffered beyond the limit).
"""
from __future__ import annotations

import json
import re

UPLOAD_ROUTE = re.compile(r"^/api/v1/districts/[^/]+/sis-imports/?$")


class _TooLarge(Exception):
    pass


class JsonBodyLimitMiddleware:
    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or (scope["method"] == "POST" and UPLOAD_ROUTE.match(scope["path"])):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        payload = json.dumps({"error": {"code": "validation_error", "message": f"body: larger than {self.limit} bytes",
                                        "field": "body"}}).encode()
        await send({"type": "http.response.start", "status": 422,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
