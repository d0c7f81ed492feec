"""The other services' HTTP APIs, as the staff app calls them on behalf of the signed-in person.

The staff app is the one web origin people use (docs/architecture.md, "One staff app"): its pages
for District Settings, My contact details and Email notifications read and change state that
settings, sis_sync and digest own, through those services' public APIs, with the person's own
session token as the bearer token. So every rule (who may read, who may change, validation,
If-Match) stays where its data lives and is enforced once; this module only carries the call.

An unreachable or failing peer (connection refused, timeout, a 5xx) raises `PeerUnavailable`, which
the pages answer with 503; any other answer is returned for the page to interpret.
"""
from __future__ import annotations

from typing import Any, Literal

import httpx

Peer = Literal["settings", "directory", "digest"]


class PeerUnavailable(Exception):
    """The service behind a page cannot answer right now (the page answers 503)."""

    def __init__(self, peer: Peer, reason: str) -> None:
        super().__init__(f"{peer}: {reason}")
        self.peer, self.reason = peer, reason


class Peers:
    """One pooled HTTP client for the three services the pages call."""

    def __init__(self, urls: dict[Peer, str], *, timeout_seconds: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._urls = {peer: url.rstrip("/") for peer, url in urls.items()}
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), transport=transport, follow_redirects=False,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))

    async def call(self, peer: Peer, method: str, path: str, *, token: str, json: Any = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        """`method path` on `peer` as the person whose session `token` is; 5xx and transport
        failures raise PeerUnavailable."""
        url = self._urls[peer] + path
        try:
            response = await self._client.request(
                method, url, json=json, headers={"Authorization": f"Bearer {token}", **(headers or {})})
        except httpx.HTTPError as exc:
            raise PeerUnavailable(peer, type(exc).__name__) from exc
        if response.status_code >= 500:
            raise PeerUnavailable(peer, f"HTTP {response.status_code}")
        return response

    async def close(self) -> None:
        await self._client.aclose()


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `{"error": {...}}` body of a refusal (code, message, field); empty when it has none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
