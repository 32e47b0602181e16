"""The FastAPI application: ``create_app(settings)`` for tests and tools, ``app`` for uvicorn.

Importing this module connects to nothing: the engine, the Redis client and the keyset
poller start in the lifespan, and the module-level ``app`` is only built when first used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware

from app.api.problems import document_problems, install_problem_handlers
from app.api.router import ROUTERS
from app.core.config import Settings
from app.core.db import dispose_engine, engines, get_sessionmaker, init_engine
from app.core.logging import configure_logging
from app.core.metrics import instrument_engine
from app.core.migrations import head_revision
from app.core.redis import close_redis, init_redis
from app.core.security.runtime import start_security, stop_security
from app.core.tracing import instrument_app, start_tracing
from app.middleware.body_limit import BodyLimitMiddleware
from app.middleware.metrics import MetricsMiddleware
from app.middleware.rate_limit import Limits, RateLimitMiddleware
from app.middleware.request_context import RequestContextMiddleware
from app.middleware.security_headers import SecurityHeadersMiddleware
from app.middleware.timeout import TimeoutMiddleware
from app.services import cache as product_cache
from app.services.retention import RetentionPolicy, RetentionPurger

DESCRIPTION = """\
The Storefront commerce API: accounts and sessions, API keys, the product catalog, orders and webhooks.

Every error is an RFC 9457 problem document (`application/problem+json`) carrying the request's
`correlation_id`, which equals the `X-Request-ID` response header.
"""

OPENAPI_TAGS = [
    {"name": "auth", "description": "Registration, login (with optional TOTP step), token refresh and logout."},
    {"name": "users", "description": "The caller's account and, for admins, user management."},
    {"name": "api-keys", "description": "Scoped keys for service-to-service calls (`X-API-Key`)."},
    {"name": "products", "description": "The catalog: public reads, admin writes."},
    {"name": "orders", "description": "Orders of the signed-in customer (admins see all)."},
    {"name": "webhooks", "description": "Signed event notifications to registered URLs, and their delivery log."},
    {"name": "operations", "description": "Probes, metrics and version."},
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    init_engine(settings)
    for engine in engines():
        instrument_engine(engine)
    redis = init_redis(settings)
    tracing = app.state.tracing
    if tracing is not None:
        tracing.instrument_engines(engines())
        tracing.instrument_redis(redis)
        tracing.instrument_httpx()
    product_cache.configure(settings.product_local_cache_seconds if settings.product_cache_ttl_seconds > 0 else 0)
    purger = RetentionPurger(get_sessionmaker(), RetentionPolicy.of(settings),
                             interval_seconds=settings.retention_purge_interval_seconds)
    try:
        security = await start_security(settings)
        app.state.security = security
        app.state.key_manager = security.keys
        purger.start()
        yield
    finally:
        await purger.stop()
        await product_cache.cancel_pending()
        await stop_security()
        await close_redis()
        await dispose_engine()
        if tracing is not None:
            tracing.stop()


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    # add_middleware wraps: the last one added is the outermost. Listed innermost first.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(TimeoutMiddleware, timeout_seconds=settings.request_timeout_seconds)
    if settings.rate_limit_enabled:
        app.add_middleware(RateLimitMiddleware, limits=Limits(
            per_ip=settings.rate_limit_per_ip_per_minute,
            per_caller=settings.rate_limit_per_user_per_minute,
            login_per_ip=settings.rate_limit_login_per_ip_per_minute,
            register_per_ip=settings.rate_limit_register_per_ip_per_minute,
            backoff_seconds=settings.rate_limit_backoff_seconds,
            sync_seconds=settings.rate_limit_sync_seconds,
        ))
    app.add_middleware(MetricsMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID", "Idempotency-Key"],
            expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed", "Location"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware, trusted_proxy_count=settings.trusted_proxy_count,
                       access_log_enabled=settings.access_log)
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age=settings.hsts_max_age_seconds)


def _install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes, tags=OPENAPI_TAGS)
            app.openapi_schema = document_problems(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.environment != "test":
        configure_logging(settings.log_level, settings.log_json)
    # /docs is the app's own page with its own assets (app/api/docs.py), not FastAPI's CDN one.
    app = FastAPI(title="Storefront API", version=settings.version, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None)
    app.state.settings = settings
    app.state.migrations_head = head_revision()
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    _install_middleware(app, settings)
    app.state.tracing = start_tracing(settings)
    if app.state.tracing is not None:
        instrument_app(app, app.state.tracing)
    _install_openapi(app)
    return app


def __getattr__(name: str) -> Any:
    # ``uvicorn app.main:app`` asks for the attribute; build it then, from the environment.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)
