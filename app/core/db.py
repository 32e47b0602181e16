"""The async engine of the primary, an optional one of a read replica, and the sessions.

Writes and anything read in order to write go to the primary (``get_session``). Catalog reads
that may lag a little use ``read_session``: the replica when one is configured and reachable,
else the primary, so a replica outage costs read capacity, never availability.

Round trips are what a request pays for most, so none is spent on bookkeeping:

- No pre-ping per checkout (it cost BEGIN, a ping and ROLLBACK). A connection the server closed
  (a restart, an idle timeout) is noticed locally at checkout and replaced before use; one that
  breaks in use fails that request with a 503 and makes the pool replace all connections as old.
- A GET or HEAD request's session runs without a transaction (autocommit): a read needs no
  BEGIN and no ROLLBACK. What such a request writes (an API key's last use) is one statement.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from starlette.requests import Request

from app.core.config import Settings
from app.core.metrics import REPLICA_FALLBACKS

log = logging.getLogger(__name__)

# After the replica fails, reads skip it for this long rather than each paying a connect attempt.
REPLICA_RETRY_SECONDS = 5.0

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None
_autocommit_sessionmaker: async_sessionmaker[AsyncSession] | None = None
_read_engine: AsyncEngine | None = None
_read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
_replica_skipped_until = 0.0


def _create_engine(url: str, settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        connect_args={
            "timeout": settings.database_connect_timeout_seconds,
            "command_timeout": settings.database_statement_timeout_ms / 1000,
            "server_settings": {"statement_timeout": str(settings.database_statement_timeout_ms)},
        },
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection, connection_record, connection_proxy) -> None:
    """The pool's checkout hook: a connection whose socket the server closed is discarded and
    the pool retries with a fresh one (SQLAlchemy's DisconnectionError protocol). A local check,
    no round trip."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


def init_engine(settings: Settings) -> AsyncEngine:
    """Creates the engines; returns the primary's (instrument ``engines()`` for all of them)."""
    global _engine, _sessionmaker, _autocommit_sessionmaker, _read_engine, _read_sessionmaker, _replica_skipped_until
    _engine = _create_engine(settings.database_url.get_secret_value(), settings)
    _sessionmaker = async_sessionmaker(_engine, expire_on_commit=False)
    # Same pool; a connection checked out through it runs in autocommit and is reset on return.
    _autocommit_sessionmaker = async_sessionmaker(_engine.execution_options(isolation_level="AUTOCOMMIT"),
                                                  expire_on_commit=False)
    _read_engine = _read_sessionmaker = None
    _replica_skipped_until = 0.0
    if settings.database_read_url is not None:
        _read_engine = _create_engine(settings.database_read_url.get_secret_value(), settings)
        _read_sessionmaker = async_sessionmaker(_read_engine, expire_on_commit=False)
    return _engine


def has_read_replica() -> bool:
    return _read_engine is not None


def get_read_engine() -> AsyncEngine | None:
    return _read_engine


def engines() -> list[AsyncEngine]:
    return [e for e in (_engine, _read_engine) if e is not None]


def get_engine() -> AsyncEngine:
    if _engine is None:
        raise RuntimeError("database engine not initialised")
    return _engine


def get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    if _sessionmaker is None:
        raise RuntimeError("database engine not initialised")
    return _sessionmaker


async def dispose_engine() -> None:
    global _engine, _sessionmaker, _autocommit_sessionmaker, _read_engine, _read_sessionmaker
    for engine in engines():
        await engine.dispose()
    _engine = _sessionmaker = _autocommit_sessionmaker = _read_engine = _read_sessionmaker = None


READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: one session per request, rolled back if the handler raises; for a
    GET or HEAD request, one without a transaction (see the module's docstring)."""
    maker = _autocommit_sessionmaker if request.method in READ_ONLY_METHODS else _sessionmaker
    if maker is None:
        raise RuntimeError("database engine not initialised")
    async with maker() as session:
        yield session


@asynccontextmanager
async def read_session() -> AsyncIterator[AsyncSession]:
    """A session for reads that tolerate replication lag: the replica's, or the primary's."""
    global _replica_skipped_until
    if _read_sessionmaker is not None and time.monotonic() >= _replica_skipped_until:
        session = _read_sessionmaker()
        try:
            await session.connection()  # checks a connection out now, so an unreachable replica shows here
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            await session.close()
            _replica_skipped_until = time.monotonic() + REPLICA_RETRY_SECONDS
            REPLICA_FALLBACKS.inc()
            log.warning("read replica unavailable, reading from the primary for %.0fs: %s",
                        REPLICA_RETRY_SECONDS, type(exc).__name__)
        else:
            async with session:
                yield session
            return
    async with get_sessionmaker()() as session:
        yield session
