"""Retrying a loop's round while PostgreSQL or Redis is down: exponential, full jitter, capped."""

from __future__ import annotations

import asyncio
import logging
import random

from redis.exceptions import RedisError

from app.core.db_errors import is_database_unavailable

TRANSIENT = (RedisError, OSError, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    """A backing service is unavailable (wait and retry) rather than a bug (count an attempt)."""
    return isinstance(exc, TRANSIENT) or is_database_unavailable(exc)


class Backoff:
    def __init__(self, name: str, log: logging.Logger, *, base: float = 0.2, cap: float = 10.0):
        self.name, self.log, self.base, self.cap = name, log, base, cap
        self.failures = 0

    def ok(self) -> None:
        if self.failures:
            self.log.info("%s: resumed after %d failed rounds", self.name, self.failures)
        self.failures = 0

    async def failed(self, exc: BaseException, stop: asyncio.Event) -> None:
        self.failures += 1
        if self.failures == 1 or self.failures % 20 == 0:
            self.log.warning("%s: %s, retrying with backoff (failure %d)", self.name, type(exc).__name__,
                             self.failures)
        delay = random.uniform(0, min(self.cap, self.base * 2 ** min(self.failures, 16)))  # noqa: S311
        await wait(stop, delay)


async def wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleeps, or returns at once when the worker is stopping."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass
