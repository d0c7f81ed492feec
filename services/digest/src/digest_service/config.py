"""Configuration of the digest service (environment variables prefixed DIGEST_, `.env` supported)."""
from __future__ import annotations

from typing import Literal

from pur_kit.config import ServiceSettings
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DIGEST_", env_file=".env", extra="ignore")

    http_port: int = 8002
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/pur_digest"

    # --- mail -------------------------------------------------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # none: plain SMTP; starttls: upgrade with STARTTLS (required); tls: implicit TLS (port 465).
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    # Certificates are always verified; this adds a CA bundle (a private CA) to the system's.
    smtp_ca_file: str | None = None
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    # Persistent SMTP connections kept open and used concurrently by a run.
    smtp_connections: int = Field(4, ge=1, le=64)
    # A connection idle longer than this is reopened rather than reused (servers drop idle ones).
    smtp_idle_seconds: float = Field(30.0, gt=0)
    mail_from: str = "Profile Update Requests <no-reply@localhost>"

    # --- links in the email ----------------------------------------------------------------
    public_base_url: str = "http://127.0.0.1:8000"       # the requests service (Manage Requests)
    settings_public_url: str = "http://127.0.0.1:8001"   # the settings service (District Settings)
    # This service's own public URL: the one-click unsubscribe link (List-Unsubscribe) of every
    # digest points straight here, so a mail client can POST to it without the staff app.
    public_api_url: str = "http://127.0.0.1:8002"

    # --- schedule and deliveries -----------------------------------------------------------
    scheduler_enabled: bool = True
    scheduler_tick_seconds: float = Field(30.0, gt=0)
    # A digest missed at its local time (service down) still goes out this long after, the same local day.
    grace_hours: float = Field(6.0, ge=0, le=24)
    # A delivery left 'claimed' this long (the process died between claiming and recording the
    # outcome) becomes 'unknown' and is never sent again; keep it well above smtp_timeout_seconds.
    claim_timeout_seconds: float = Field(900.0, gt=0)
    # Lease on a district's scheduled run, so one replica does the work (claims keep it exactly-once anyway).
    run_lease_seconds: float = Field(600.0, gt=0)
    max_attempts: int = Field(5, ge=1, le=20)
    retry_backoff_seconds: float = Field(60.0, gt=0)       # doubled at each attempt
    retry_backoff_max_seconds: float = Field(3600.0, gt=0)
    # An email lists the newest N requests and counts the rest ("and 120 more").
    max_listed_requests: int = Field(25, ge=1, le=1000)
    # Recipients handled concurrently by a run (each uses one database connection at a time).
    send_concurrency: int = Field(8, ge=1, le=64)
    # The one database pool: a run's send_concurrency, plus a few for the message handlers, the
    # API, the scheduler, the outcome batches and the run's lease.
    db_pool_size: int = Field(12, ge=2)
