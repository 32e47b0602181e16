"""Rate limits in Redis: per client IP, per caller (user or API key), and stricter per-IP limits
on login and registration. Fixed one-minute windows; 429 with ``Retry-After`` when exceeded.

Caller identity is read from the credential without verifying it (verification is the auth
dependency's job and costs a signature check). So a forged token cannot spend someone else's
budget, a request that ends in 401 gives its unit back.

Redis down: the limiter fails open. Availability of the shop matters more than throttling while
Redis is out, login is still bounded by argon2's cost and by the account lockout kept in
PostgreSQL, and after one Redis error the limiter stops asking Redis for a few seconds so an
outage adds no latency. Errors are logged and counted (``storefront_rate_limit_backend_errors_total``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response
from app.core import request_context
from app.core.metrics import RATE_LIMIT_BACKEND_ERRORS, RATE_LIMITED
from app.core.redis import get_redis

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Probes and scrapes must never be throttled.
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics", "/version"})


@dataclass(frozen=True)
class Limits:
    per_ip: int
    per_caller: int
    login_per_ip: int
    register_per_ip: int
    backoff_seconds: float = 5.0


def caller_identity(scope: Scope) -> str | None:
    """A stable name for the presented credential: the JWT's ``sub`` or a hash of the API key."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return _jwt_subject(token.strip())
        elif name == b"x-api-key" and value:
            return "key:" + hashlib.sha256(value).hexdigest()[:32]
    return None


def _jwt_subject(token: bytes) -> str | None:
    parts = token.split(b".")
    if len(parts) != 3 or len(parts[1]) > 4096:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    return f"user:{sub}" if isinstance(sub, str) and len(sub) <= 64 else None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits
        self._skip_until = 0.0

    def _buckets(self, scope: Scope, ip: str) -> list[tuple[str, str, int]]:
        """(limit name, redis key stem, limit) for every limit this request counts against."""
        limits = self.limits
        buckets = []
        if limits.per_ip:
            buckets.append(("ip", f"rl:ip:{ip}", limits.per_ip))
        if scope["method"] == "POST":
            path = scope["path"]
            if path in ("/auth/login", "/auth/login/mfa") and limits.login_per_ip:
                buckets.append(("login", f"rl:login:{ip}", limits.login_per_ip))
            elif path == "/auth/register" and limits.register_per_ip:
                buckets.append(("register", f"rl:register:{ip}", limits.register_per_ip))
        return buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS or time.monotonic() < self._skip_until:
            await self.app(scope, receive, send)
            return
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        ip = request_context.client_ip.get() or "unknown"
        buckets = self._buckets(scope, ip)
        caller = caller_identity(scope) if self.limits.per_caller else None
        caller_key = f"rl:caller:{caller}:{window}" if caller else None
        if caller_key:
            buckets.append(("caller", f"rl:caller:{caller}", self.limits.per_caller))

        counts = await self._count([f"{stem}:{window}" for _, stem, _ in buckets])
        if counts is not None:
            for (limit_name, _, limit), count in zip(buckets, counts):
                if count > limit:
                    RATE_LIMITED.labels(limit_name).inc()
                    await problem_response(
                        429, f"Rate limit of {limit} requests per minute exceeded ({limit_name})",
                        type_slug="rate-limited", headers={"Retry-After": str(retry_after)},
                    )(scope, receive, send)
                    return
        if not (caller_key and counts is not None):
            await self.app(scope, receive, send)
            return

        status = 0

        async def send_tracking(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_tracking)
        if status == 401:  # the credential was not valid: the unit was not the caller's to spend
            await self._refund(caller_key)

    async def _count(self, keys: list[str]) -> list[int] | None:
        if not keys:
            return []
        try:
            pipe = get_redis().pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS + 1, nx=True)
            results = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._backend_failed(exc)
            return None
        return [int(c) for c in results[::2]]

    async def _refund(self, key: str) -> None:
        try:
            await get_redis().decr(key)
        except (RedisError, OSError) as exc:
            self._backend_failed(exc)

    def _backend_failed(self, exc: Exception) -> None:
        RATE_LIMIT_BACKEND_ERRORS.inc()
        self._skip_until = time.monotonic() + self.limits.backoff_seconds
        log.warning("rate limiting skipped: Redis unavailable (%s)", type(exc).__name__)
