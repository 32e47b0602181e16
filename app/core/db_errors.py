"""How database exceptions map to HTTP: "unavailable" (→ 503) or "bad value" (→ 422) rather
than a bug (→ 500).

Kept in one place so the problem handlers, the readiness probe and any retry logic agree.
SQLAlchemy wraps asyncpg's exceptions (sometimes twice), so every test walks the whole chain
of ``.orig`` / ``__cause__`` and looks at the driver's exception class and SQLSTATE.
"""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa_exc

# SQLSTATE classes meaning "not now" rather than "wrong query": 08 connection exception,
# 53 insufficient resources (too many connections), 57 operator intervention (shutting down,
# starting up, statement_timeout), 58 system error.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57", "58")
# SQLSTATE class 22, data exception: a NUL character, a number out of range, a bad encoding.
_BAD_VALUE_SQLSTATE_CLASS = "22"

_UNAVAILABLE_ASYNCPG = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,  # e.g. connection closed in the middle of an operation
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return state if isinstance(state, str) else None


def is_database_unavailable(exc: BaseException) -> bool:
    """True for connection failures, pool/connect timeouts, shutdowns and restarts."""
    for current in _chain(exc):
        if isinstance(current, sa_exc.TimeoutError):  # pool exhausted for pool_timeout seconds
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError)):
            return True
        if isinstance(current, _UNAVAILABLE_ASYNCPG):
            return True
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
        if isinstance(current, OSError) and current.errno is not None:
            return True
        state = _sqlstate(current)
        if state and state.startswith(_UNAVAILABLE_SQLSTATE_CLASSES):
            return True
    return False


def is_bad_value(exc: BaseException) -> bool:
    """True when PostgreSQL refused a value the client sent (SQLSTATE class 22)."""
    for current in _chain(exc):
        if isinstance(current, sa_exc.DataError):
            return True
        state = _sqlstate(current)
        if state and state.startswith(_BAD_VALUE_SQLSTATE_CLASS):
            return True
    return False
