"""Settings shared by every service; each service subclasses with its own env prefix."""
from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Long enough for HS256 (PyJWT warns below 32 bytes); refused in production.
DEV_JWT_SECRET = "dev-only-insecure-secret-change-me-0123456789"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_namespace: str = "pur"
    # Shared by every service, so it carries no service prefix.
    jwt_secret: str = Field(DEV_JWT_SECRET, validation_alias=AliasChoices("JWT_SECRET"))
    environment: Literal["development", "production"] = "development"
    log_level: str = "INFO"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    db_pool_size: int = 10
    # "pgbouncer-transaction": database_url is a PgBouncer in transaction pooling mode (1.18: no
    # protocol-level prepared statements, no session state kept between transactions). The pools
    # then prepare no named statements and never reset sessions; what needs a session of its own
    # (the relay's LISTEN, migrations, sis_sync's import runs) uses database_direct_url, PostgreSQL
    # itself. Without it the relay polls (outbox_poll_seconds) and sis_sync refuses to start.
    # See libs/kit/README.md, "Behind PgBouncer".
    database_pooler: Literal["none", "pgbouncer-transaction"] = "none"
    database_direct_url: str | None = None
    outbox_batch_size: int = Field(500, ge=1, le=2000)  # a batch must fit the relay's AMQP write queue
    outbox_poll_seconds: float = 5.0
    # "quorum" (the default): the consumer queues (with .retry and .dlq) are quorum queues,
    # replicated across a RabbitMQ cluster (3.10 or newer), named <ns>.<service>.<purpose>.q. An
    # installation with classic queues (<ns>.<service>.<purpose>) moves with `pur-queues migrate
    # <service>` once every replica runs quorum, or stays with QUEUE_TYPE=classic
    # (libs/kit/README.md, "Quorum queues").
    queue_type: Literal["classic", "quorum"] = "quorum"
    consumer_prefetch: int = 32
    consumer_max_retries: int = 5
    consumer_retry_delay_ms: int = 500
    consumer_max_message_bytes: int = Field(256 * 1024, ge=1024)  # larger messages are dead-lettered unparsed
    # Inbox retention (pur_kit.inbox_retention): rows of the inbox older than this are deleted, every
    # interval. The inbox only has to remember a message while another copy of it can still arrive:
    # a redelivery after a lost ack or a consumer's crash, the relay publishing a batch again after a
    # lost confirm, a retry copy (seconds to minutes); and a dead letter requeued with `pur-dlq`, days
    # or weeks later. A dead-lettered copy was never applied (its claim rolled back with the
    # failure), but while duplicates were in flight another copy of it may have been: requeued inside
    # the window it is recognized, after it it is applied again. 30 days covers any requeue an
    # operator makes after a dead-letter alert. What a copy older than the window does (checked in
    # each service's handlers): every directory (user, school), settings and request event is
    # version-gated in requests, settings, digest and sis_sync (a row is written only when the
    # event's version is newer), so it changes nothing. The `*.replay.requested` handlers are not
    # gated: an old replay request is answered again, republishing the owner's current state
    # (harmless to the consumers, which version-gate it, but a directory replay for all districts
    # is one event per user). See libs/kit/README.md, "Inbox retention".
    inbox_retention_days: int = Field(30, ge=1)
    inbox_prune_interval_seconds: float = Field(3600.0, gt=0)
    max_body_bytes: int = 64 * 1024
    # Garbage collector of the service process: after start-up, the objects built so far are frozen
    # out of the collector's scans, and the youngest generation is collected every this many net
    # allocations instead of 700. 0 leaves Python's defaults. See runtime.tune_gc. A property of the
    # process, so one unprefixed variable: GC_GEN0_THRESHOLD.
    gc_gen0_threshold: int = Field(20_000, ge=0, validation_alias=AliasChoices("GC_GEN0_THRESHOLD"))

    @property
    def behind_pooler(self) -> bool:
        return self.database_pooler != "none"

    @property
    def direct_url(self) -> str | None:
        """PostgreSQL itself, for work that needs a session of its own (LISTEN, session advisory
        locks, temporary tables across transactions); None behind a pooler when it is not set."""
        return self.database_direct_url or (None if self.behind_pooler else self.database_url)

    @property
    def migration_url(self) -> str:
        """Where migrations run: PostgreSQL itself when known. Through a transaction pooler works
        too (one transaction, a transaction-scoped lock), but leaves Alembic's named prepared
        statements on PgBouncer's server connections."""
        return self.database_direct_url or self.database_url

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> ServiceSettings:
        if self.environment == "production" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set in production (the development default is refused)")
        if len(self.jwt_secret.encode()) < 32:
            raise ValueError("JWT_SECRET must be at least 32 bytes long")
        return self
