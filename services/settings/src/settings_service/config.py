"""Configuration of the settings service (environment variables prefixed SETTINGS_, `.env` supported)."""
from __future__ import annotations

from pur_kit.config import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SETTINGS_", env_file=".env", extra="ignore")

    http_port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/pur_settings"
    # The staff app (the requests service's origin), where the District Settings page now lives; the
    # page's old address on this service redirects there.
    public_requests_url: str = "http://127.0.0.1:8000"
