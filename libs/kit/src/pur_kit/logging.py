"""Structured JSON logs with the correlation id of the current request or message.

Log event names and ids only: never names, emails, phones or free text from requests.
"""
from __future__ import annotations

import logging
import os
import sys
import uuid
from contextvars import ContextVar

import structlog

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def current_correlation_id() -> str | None:
    return correlation_id_var.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def _add_correlation_id(_, __, event_dict):
    cid = correlation_id_var.get()
    if cid is not None:
        event_dict.setdefault("correlation_id", cid)
    return event_dict


def configure_logging(service: str, level: str = "INFO", fmt: str | None = None) -> None:
    """JSON lines by default; `LOG_FORMAT=console` gives readable lines (used by `make run`)."""
    fmt = fmt or os.environ.get("LOG_FORMAT", "json")
    renderer = (structlog.dev.ConsoleRenderer(colors=False, pad_event_to=24) if fmt == "console"
                else structlog.processors.JSONRenderer())
    shared = [
        structlog.contextvars.merge_contextvars,
        _add_correlation_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                (lambda _, __, ed: {**ed, "service": service}) if fmt != "console" else (lambda _, __, ed: ed),
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log would print query strings (searches by requester name): ours logs paths only.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("aiormq").setLevel("WARNING")
    logging.getLogger("aio_pika").setLevel("WARNING")


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
