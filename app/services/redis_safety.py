"""Redis is a cache and a counter store for identity: when it fails, callers fall back
(PostgreSQL for session state) or fail open (login throttling), never raise a 500.

After a failure Redis is skipped for a short back-off, so an outage costs each request
nothing instead of a connection attempt per operation.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

from redis.exceptions import RedisError

log = logging.getLogger("storefront.identity.redis")
T = TypeVar("T")

REDIS_FAILURES = (RedisError, OSError, asyncio.TimeoutError)
BACKOFF_SECONDS = 1.0
# Per client, so a new client (a restarted app) starts without an inherited back-off.
_skip_until: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_last_warning = 0.0


async def attempt(client: Any, operation: Coroutine[Any, Any, T], what: str) -> T | None:
    """Awaits the Redis operation of ``client``; on a Redis failure (or during the back-off
    after one) returns None. Logs at most every 10 s."""
    global _last_warning
    now = time.monotonic()
    if now < _skip_until.get(client, 0.0):
        operation.close()
        return None
    try:
        return await operation
    except REDIS_FAILURES as exc:
        _skip_until[client] = time.monotonic() + BACKOFF_SECONDS
        if now - _last_warning > 10:
            _last_warning = now
            log.warning("Redis unavailable, degrading", extra={"operation": what, "error": type(exc).__name__})
        return None
