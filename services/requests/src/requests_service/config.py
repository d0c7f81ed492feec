"""Configuration of the requests service (environment variables prefixed REQUESTS_, `.env` supported)."""
from __future__ import annotations

from pur_kit.config import ServiceSettings
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REQUESTS_", env_file=".env", extra="ignore", populate_by_name=True)

    http_port: int = 8000
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/pur_requests"

    # The one asyncpg pool of the process (HTTP paths and message handlers). REQUESTS_API_POOL_SIZE,
    # its name from when the HTTP paths had a pool of their own, is still read.
    db_pool_size: int = Field(16, ge=1, validation_alias=AliasChoices("REQUESTS_DB_POOL_SIZE",
                                                                      "REQUESTS_API_POOL_SIZE"))
    # Submissions that arrive while every connection is busy are written together, at most this
    # many per statement (1: always one by one). See service_layer/submission.py.
    submission_group_max: int = Field(64, ge=1, le=500)
    # Under load the relay waits this long after a wake-up so that concurrent commits share one batch.
    outbox_coalesce_ms: float = Field(20.0, ge=0, le=1000)

    # Development only: /login lists demo identities and signs a session cookie for any of them.
    dev_login: bool = False
    # The district the development login lists first (the demo district of `make run`); all districts
    # when it has nobody, and any district by choice on the page.
    dev_login_district: str = "springfield"
    session_ttl_seconds: int = Field(8 * 3600, ge=60)
    # Set when the UI is served over HTTPS (always in production).
    secure_cookies: bool = False

    # The staff app's pages for District Settings, My contact details and Email notifications call
    # these services' public APIs with the signed-in person's token (adapters/peers.py).
    settings_api_url: str = "http://127.0.0.1:8001"
    directory_api_url: str = "http://127.0.0.1:8003"   # sis_sync
    digest_api_url: str = "http://127.0.0.1:8002"
    peer_timeout_seconds: float = Field(5.0, gt=0, le=60)
