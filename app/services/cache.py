"""Two-level read-through cache of product JSON: a tiny in-process map in front of Redis.

- In-process (``local_ttl``, about a second): serves a hot catalog without a Redis round trip.
  Writes in this process drop it at once; other processes see a change within ``local_ttl``.
- Redis (``ttl``): shared by every process. Single products live under ``product:<id>``; list
  pages are fields of one hash, ``products:pages``, so one DEL drops every page when any
  product or stock changes.

Entries expire after a short TTL, which also bounds how long a read racing a write can leave a
stale entry behind. Redis errors count as misses: the cache never fails a request.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from redis.exceptions import RedisError

from app.core.db import has_read_replica
from app.core.metrics import CACHE_REQUESTS
from app.core.redis import get_redis

log = logging.getLogger(__name__)

PAGES_KEY = "products:pages"
LOCAL_MAX_ENTRIES = 2048
REPLICA_REINVALIDATE_SECONDS = 1.0
_pending: set[asyncio.Task] = set()

_LOCAL_HIT = {name: CACHE_REQUESTS.labels(name, "hit") for name in ("product_local", "product_pages_local")}


class LocalCache:
    """A bounded map of bytes with a TTL; single-threaded (the event loop), so no locks."""

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, bytes]] = {}

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: str, value: bytes) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= LOCAL_MAX_ENTRIES:
            self._entries.clear()  # crude but bounded; the next reads refill from Redis
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def drop(self, keys: list[str], prefix: str) -> None:
        for key in keys:
            self._entries.pop(key, None)
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def reset(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries.clear()


local = LocalCache()


def configure(local_ttl: float) -> None:
    """Called at application start: a new app never sees another app's entries."""
    local.reset(local_ttl)


def product_key(product_id: uuid.UUID) -> str:
    return f"product:{product_id}"


def _page_key(field: str) -> str:
    return f"page:{field}"


def _failed(cache: str, exc: Exception) -> None:
    CACHE_REQUESTS.labels(cache, "error").inc()
    log.warning("cache unavailable: %s", type(exc).__name__)


async def get_product(product_id: uuid.UUID) -> bytes | None:
    key = product_key(product_id)
    if (value := local.get(key)) is not None:
        _LOCAL_HIT["product_local"].inc()
        return value
    try:
        value = await get_redis().get(key)
    except (RedisError, OSError) as exc:
        _failed("product", exc)
        return None
    CACHE_REQUESTS.labels("product", "hit" if value is not None else "miss").inc()
    if value is not None:
        local.put(key, value)
    return value


async def put_product(product_id: uuid.UUID, body: bytes, ttl: int) -> None:
    local.put(product_key(product_id), body)
    try:
        await get_redis().set(product_key(product_id), body, ex=ttl)
    except (RedisError, OSError) as exc:
        _failed("product", exc)


async def get_page(field: str) -> bytes | None:
    if (value := local.get(_page_key(field))) is not None:
        _LOCAL_HIT["product_pages_local"].inc()
        return value
    try:
        value = await get_redis().hget(PAGES_KEY, field)
    except (RedisError, OSError) as exc:
        _failed("product_pages", exc)
        return None
    CACHE_REQUESTS.labels("product_pages", "hit" if value is not None else "miss").inc()
    if value is not None:
        local.put(_page_key(field), value)
    return value


async def put_page(field: str, body: bytes, ttl: int) -> None:
    local.put(_page_key(field), body)
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.hset(PAGES_KEY, field, body)
        # Only the first page written sets the TTL, so a busy catalog still refreshes every ttl.
        pipe.expire(PAGES_KEY, ttl, nx=True)
        await pipe.execute()
    except (RedisError, OSError) as exc:
        _failed("product_pages", exc)


async def invalidate_products(product_ids: list[uuid.UUID] | tuple[uuid.UUID, ...] = ()) -> None:
    """Drops every cached page and the given products; call after the change committed.

    With a read replica, a reader may refill the cache from a replica that has not replayed
    the change yet, and that stale copy would live for the whole TTL: so the entries are
    dropped once more after ``REPLICA_REINVALIDATE_SECONDS``, which bounds the staleness by
    the replica's lag whenever that lag is shorter.
    """
    await _invalidate(tuple(product_ids))
    if has_read_replica():
        task = asyncio.get_running_loop().create_task(_invalidate_later(tuple(product_ids)))
        _pending.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(_pending.discard)


async def cancel_pending() -> None:
    """At shutdown, before Redis closes: the delayed invalidations have nothing left to protect."""
    tasks = list(_pending)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _invalidate_later(product_ids: tuple[uuid.UUID, ...]) -> None:
    await asyncio.sleep(REPLICA_REINVALIDATE_SECONDS)
    await _invalidate(product_ids)


async def _invalidate(product_ids: tuple[uuid.UUID, ...]) -> None:
    local.drop([product_key(pid) for pid in product_ids], prefix="page:")
    try:
        await get_redis().delete(PAGES_KEY, *(product_key(pid) for pid in product_ids))
    except (RedisError, OSError) as exc:
        _failed("invalidate", exc)
