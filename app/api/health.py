"""Operational endpoints: liveness, readiness, Prometheus metrics and version."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.problems import problem_response, problem_responses
from app.core.db import get_engine, get_read_engine
from app.core.redis import get_redis

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])

# Each readiness check gets this long; the probe answers within about that even if all hang.
CHECK_TIMEOUT_SECONDS = 2.0


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


class Version(BaseModel):
    version: str
    git_sha: str
    schema_revision: str | None
    migrations_head: str | None


async def _check_database(engine: AsyncEngine | None = None) -> None:
    async with (engine or get_engine()).connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis() -> None:
    if not await get_redis().ping():
        raise RuntimeError("PING not answered")


async def _check_keys(request: Request) -> None:
    manager = getattr(request.app.state, "key_manager", None)
    if manager is None or not manager.ready():
        raise RuntimeError("no usable signing key")


async def _run(name: str, check: Any) -> tuple[str, str]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the reason goes to the log
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return name, "timeout" if isinstance(exc, TimeoutError) else "failed"
    return name, "ok"


@router.get("/health", response_model=Health, summary="Liveness: the process is serving")
async def health() -> Health:
    return Health()


@router.get(
    "/ready", response_model=Readiness, summary="Readiness: PostgreSQL, Redis and signing keys usable",
    description="`checks` also reports the read replica (`database_replica`) when one is configured; it "
                "does not decide readiness, since catalog reads fall back to the primary without it.",
    responses=problem_responses(503),
)
async def ready(request: Request) -> Any:
    checks = [_run("database", _check_database()), _run("redis", _check_redis()), _run("keys", _check_keys(request))]
    if (replica := get_read_engine()) is not None:
        checks.append(_run("database_replica", _check_database(replica)))
    results = dict(await asyncio.gather(*checks))
    required = {k: v for k, v in results.items() if k != "database_replica"}
    if all(v == "ok" for v in required.values()):
        return Readiness(status="ready", checks=results)
    failing = ", ".join(k for k, v in required.items() if v != "ok")
    return problem_response(503, f"Not ready: {failing}", type_slug="not-ready", checks=results,
                            headers={"Retry-After": "5"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}})
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/version", response_model=Version, summary="Version, git sha and schema revision")
async def version(request: Request) -> Version:
    settings = request.app.state.settings
    revision: str | None = None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with get_engine().connect() as conn:
                revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
    except Exception as exc:  # noqa: BLE001 - the version endpoint answers even when the database does not
        log.warning("schema revision unavailable: %s", type(exc).__name__)
    return Version(version=settings.version, git_sha=settings.git_sha, schema_revision=revision,
                   migrations_head=request.app.state.migrations_head)
