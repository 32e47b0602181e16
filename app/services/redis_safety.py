"""Redis is a cache and a counter store for identity: when it fails, callers fall back
(PostgreSQL for session state) or fail open (login throttling), never raise a 500."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import RedisError

log = logging.getLogger("storefront.identity.redis")
T = TypeVar("T")

REDIS_FAILURES = (RedisError, OSError, asyncio.TimeoutError)
_last_warning = 0.0


async def attempt(operation: Awaitable[T], what: str) -> T | None:
    """Awaits the Redis operation; on a Redis failure logs (at most every 10 s) and returns None."""
    global _last_warning
    try:
        return await operation
    except REDIS_FAILURES as exc:
        now = time.monotonic()
        if now - _last_warning > 10:
            _last_warning = now
            log.warning("Redis unavailable, degrading", extra={"operation": what, "error": type(exc).__name__})
        return None
