"""The worker's own HTTP endpoints: /health (alive), /ready (PostgreSQL and Redis usable, group
joined; 503 otherwise) and /metrics (Prometheus; the queue gauges are read at scrape time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.core.redis import RedisClient
from app.services import outbox, queue
from app.worker.metrics import OUTBOX_UNSENT, QUEUE_DEAD_LETTERS, QUEUE_LAG, QUEUE_PENDING

log = logging.getLogger("storefront.worker.http")
CHECK_TIMEOUT_SECONDS = 2.0


async def _run(name: str, check: Any) -> tuple[str, str]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return name, "timeout" if isinstance(exc, TimeoutError) else "failed"
    return name, "ok"


def build_app(sessionmaker: async_sessionmaker[AsyncSession], redis: RedisClient,
              joined: Callable[[], bool]) -> Starlette:
    async def database() -> None:
        async with sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def redis_ping() -> None:
        if not await redis.ping():
            raise RuntimeError("PING not answered")

    async def group() -> None:
        if not joined():
            raise RuntimeError("not in the consumer group")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        checks = dict(await asyncio.gather(_run("database", database()), _run("redis", redis_ping()),
                                           _run("consumer_group", group())))
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    async def refresh_gauges() -> None:
        state = await queue.group_state(redis)
        if state is not None:
            QUEUE_LAG.set(state.lag)
            QUEUE_PENDING.set(state.pending)
        QUEUE_DEAD_LETTERS.set(await redis.xlen(queue.DEAD_LETTERS))
        async with sessionmaker() as session:
            OUTBOX_UNSENT.set(await outbox.unsent_count(session))

    async def metrics(request: Request) -> Response:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await refresh_gauges()
        except Exception as exc:  # noqa: BLE001 - the gauges keep their last values
            log.warning("queue gauges not refreshed: %s", type(exc).__name__)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/health", health), Route("/ready", ready), Route("/metrics", metrics)])
