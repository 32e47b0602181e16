"""Which exceptions mean "the database is unavailable" (→ 503) rather than a bug (→ 500).

Kept in one place so the problem handlers, the readiness probe and any retry logic agree.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

# Server-side states that mean "not now" rather than "wrong query".
_UNAVAILABLE_ASYNCPG = (
    asyncpg.exceptions.PostgresConnectionError,  # includes CannotConnectNowError (starting/stopping)
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.QueryCanceledError,  # statement_timeout
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """True for connection failures, pool/connect timeouts and server shutdowns."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
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
        # SQLAlchemy keeps the driver error in .orig; Python chains keep it in __cause__.
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False
