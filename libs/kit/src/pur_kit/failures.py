"""Which errors mean "a dependency cannot be reached or used right now" rather than "this input is bad".

HTTP answers the first kind with 503 `unavailable` and the second with a 4xx/500; a consumer pauses
on the first kind (the message is kept and handled once the dependency is back) and retries, then
dead-letters, only the second. Deciding it in one place keeps the two sides in agreement.
"""
from __future__ import annotations

import socket

import aiormq.exceptions
import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATE classes: 08 connection exception, 53 insufficient resources (too many connections, disk
# full, out of memory), 57 operator intervention (shutdown, cannot connect now, crash recovery).
_UNAVAILABLE_SQLSTATE_CLASSES = {"08", "53", "57"}
# 3D000: the database does not exist (dropped or not created yet); 55000 is what PostgreSQL answers a
# connection to a database whose ALLOW_CONNECTIONS is false; 55P03: lock not available (lock_timeout).
_UNAVAILABLE_SQLSTATES = {"3D000", "55000", "55P03"}
# 57014 (statement timeout) can be caused by the work asked for: retried, then dead-lettered.
_STATEMENT_TIMEOUT = "57014"

_UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    PoolTimeout,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
)
# OSErrors about files are the service's own problem, not an unreachable dependency.
_LOCAL_OS_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
                    PermissionError)


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says a database or broker cannot be reached or used."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _UNAVAILABLE_TYPES):
            return True
        if isinstance(current, OSError) and not isinstance(current, _LOCAL_OS_ERRORS):
            return True
        state = _sqlstate(current)
        if state and state != _STATEMENT_TIMEOUT and (
                state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or state in _UNAVAILABLE_SQLSTATES):
            return True
        # SQLAlchemy keeps the driver's error in `.orig`; drivers and we chain with `raise ... from`.
        pending += [getattr(current, "orig", None), current.__cause__]
    return False


def describe(exc: BaseException) -> str:
    """Type and SQLSTATE (never the message, which may quote data), e.g. `DBAPIError/53300`."""
    state = _sqlstate(exc) or _sqlstate(getattr(exc, "orig", None) or exc)
    return f"{type(exc).__name__}/{state}" if state else type(exc).__name__
