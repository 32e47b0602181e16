"""Read-through cache of product JSON in Redis.

Single products live under ``product:<id>``; list pages are fields of one hash,
``products:pages``, so one DEL drops every page when any product or stock changes. Entries
expire after a short TTL, which also bounds how long a read racing a write can leave a stale
entry behind. Redis errors count as misses: the cache never fails a request.
"""

from __future__ import annotations

import logging
import uuid

from redis.exceptions import RedisError

from app.core.metrics import CACHE_REQUESTS
from app.core.redis import get_redis

log = logging.getLogger(__name__)

PAGES_KEY = "products:pages"


def product_key(product_id: uuid.UUID) -> str:
    return f"product:{product_id}"


def _failed(cache: str, exc: Exception) -> None:
    CACHE_REQUESTS.labels(cache, "error").inc()
    log.warning("cache unavailable: %s", type(exc).__name__)


async def get_product(product_id: uuid.UUID) -> bytes | None:
    try:
        value = await get_redis().get(product_key(product_id))
    except (RedisError, OSError) as exc:
        _failed("product", exc)
        return None
    CACHE_REQUESTS.labels("product", "hit" if value is not None else "miss").inc()
    return value


async def put_product(product_id: uuid.UUID, body: bytes, ttl: int) -> None:
    try:
        await get_redis().set(product_key(product_id), body, ex=ttl)
    except (RedisError, OSError) as exc:
        _failed("product", exc)


async def get_page(field: str) -> bytes | None:
    try:
        value = await get_redis().hget(PAGES_KEY, field)
    except (RedisError, OSError) as exc:
        _failed("product_pages", exc)
        return None
    CACHE_REQUESTS.labels("product_pages", "hit" if value is not None else "miss").inc()
    return value


async def put_page(field: str, body: bytes, ttl: int) -> None:
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.hset(PAGES_KEY, field, body)
        # Only the first page written sets the TTL, so a busy catalog still refreshes every ttl.
        pipe.expire(PAGES_KEY, ttl, nx=True)
        await pipe.execute()
    except (RedisError, OSError) as exc:
        _failed("product_pages", exc)


async def invalidate_products(product_ids: list[uuid.UUID] | tuple[uuid.UUID, ...] = ()) -> None:
    """Drops every cached page and the given products; call after the change committed."""
    try:
        await get_redis().delete(PAGES_KEY, *(product_key(pid) for pid in product_ids))
    except (RedisError, OSError) as exc:
        _failed("invalidate", exc)
