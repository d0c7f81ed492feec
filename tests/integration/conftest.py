"""The whole system as real processes (production entrypoints) on real RabbitMQ and PostgreSQL,
with an aiosmtpd server standing in for the district's mail server."""
from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
import pytest_asyncio
from pur_kit.auth import mint_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.devstack import ServiceSpec, Stack
from pur_kit.testing import free_port
from pur_kit.testing.mailbox import running_mailbox


@pytest.fixture
def mailbox():
    with running_mailbox() as box:
        yield box


@pytest_asyncio.fixture
async def system(database_factory, rabbitmq_url, topology, mailbox, tmp_path):
    ports = {name: free_port() for name in ("settings", "sis_sync", "requests", "digest")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    specs = [
        ServiceSpec("sis_sync", ports["sis_sync"], await database_factory("sis"),
                    {"SIS_SYNC_DROP_FOLDER": str(tmp_path / "drop")}),
        ServiceSpec("settings", ports["settings"], await database_factory("settings")),
        # the staff app: its District Settings, My contact details and Email notifications pages
        # call the other three services' APIs
        ServiceSpec("requests", ports["requests"], await database_factory("requests"),
                    {"REQUESTS_SETTINGS_API_URL": urls["settings"], "REQUESTS_DIRECTORY_API_URL": urls["sis_sync"],
                     "REQUESTS_DIGEST_API_URL": urls["digest"], "REQUESTS_DEV_LOGIN": "true"}),
        ServiceSpec("digest", ports["digest"], await database_factory("digest"),
                    {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(mailbox.port),
                     "DIGEST_PUBLIC_BASE_URL": urls["requests"], "DIGEST_PUBLIC_API_URL": urls["digest"],
                     # the test forces its digest run; a scheduled one must not race it
                     "DIGEST_SCHEDULER_ENABLED": "false"}),
    ]
    stack = Stack(specs, rabbitmq_url=rabbitmq_url, namespace=topology.namespace, jwt_secret=DEV_JWT_SECRET,
                  echo=False, log_dir=tmp_path)
    stack.start()
    try:
        await stack.wait_ready(timeout=90)
        async with httpx.AsyncClient(timeout=30) as client:
            yield SimpleNamespace(urls=urls, client=client, stack=stack, topology=topology,
                                  rabbitmq_url=rabbitmq_url, mailbox=mailbox, drop=tmp_path / "drop",
                                  system_headers=system_headers(), person_headers=person_headers)
    finally:
        stack.stop()


def system_headers(secret: str = DEV_JWT_SECRET) -> dict:
    return {"Authorization": f"Bearer {mint_token(secret, sub='system', system=True)}"}


def person_headers(user: dict, secret: str = DEV_JWT_SECRET) -> dict:
    token = mint_token(secret, sub=user["id"], district_id=user["district_id"])
    return {"Authorization": f"Bearer {token}"}
