"""Configuration of the sis_sync service (environment variables prefixed SIS_SYNC_, `.env` supported)."""
from __future__ import annotations

from pathlib import Path

from pur_kit.config import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

IMPORT_CHECK_CONNECTIONS = 4  # the import pool's connections beyond one per run (`import_pool_size`)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIS_SYNC_", env_file=".env", extra="ignore")

    http_port: int = 8003
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/pur_sis_sync"

    # Roster uploads need far more than the 64 KiB that JSON endpoints get: `max_body_bytes` caps
    # the upload route, `json_body_limit_bytes` every other route (entrypoints/app.py).
    max_body_bytes: int = 200 * 1024 * 1024
    json_body_limit_bytes: int = 64 * 1024

    # Import safety.
    deactivation_threshold: float = Field(0.2, ge=0.0, le=1.0)
    max_uncompressed_bytes: int = 2 * 1024 * 1024 * 1024
    max_zip_entries: int = 200
    stored_errors_cap: int = 1000
    # Bounds on one run, so a hostile or broken export cannot hold a district's one import slot (and
    # a core) for long: rows per file, inflation of a zip member (0: no check), wall-clock time.
    import_max_rows: int = Field(2_000_000, ge=1)
    max_zip_ratio: float = Field(100.0, ge=0)
    import_max_seconds: float = Field(1800.0, gt=0)
    cancel_poll_seconds: float = Field(1.0, gt=0)  # how soon a cancel asked for by another process is seen
    upload_dir: Path | None = None  # uploads are spooled here until their run ends (default: system temp)

    # Runs this process works on at once (uploads and drop-folder pickups). Each holds a connection
    # of the import pool and up to 128 MB of PostgreSQL's temp_buffers for its whole run, and they
    # share this process's one core for parsing: beyond a few, runs only slow each other down (and
    # near SIS_SYNC_IMPORT_MAX_SECONDS). A drop-folder pass leaves what does not fit for a later pass,
    # of this replica or another; an upload gets 503 and Retry-After (a load balancer's retry finds
    # another replica). The import pool is sized from it (`import_pool_size`).
    max_concurrent_imports: int = Field(4, ge=1, le=64)

    # Scheduled pickup: <drop_folder>/<district_id>/*.zip, the newest not yet imported.
    drop_folder: Path | None = None
    drop_poll_seconds: float = 30.0
    drop_settle_seconds: float = 5.0  # ignore files modified more recently (still being copied)

    # Runs left 'running' by a crashed process are failed by this sweep (and at start).
    stale_run_sweep_seconds: float = 60.0

    @property
    def import_pool_size(self) -> int:
        """Connections of the import pool: one held by each run for its whole length, and room for
        the short checks beside them (each run's cancel poll, the orphan sweep, the drop-folder
        pass, a sweep when a district's run slot is taken), so those never wait behind whole runs."""
        return self.max_concurrent_imports + IMPORT_CHECK_CONNECTIONS
