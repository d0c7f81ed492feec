"""Configuration of the settings service (environment variables prefixed SETTINGS_, `.env` supported)."""
from __future__ import annotations

from pur_kit.config import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SETTINGS_", env_file=".env", extra="ignore")

    http_port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/pur_settings"
    # Where people sign in (the dev login lives in the requests service); the session cookie it sets
    # is sent to this service too, since cookies are scoped by host, not port.
    public_requests_url: str = "http://127.0.0.1:8000"
    # Set when the pages are served over HTTPS (always in production).
    secure_cookies: bool = False
