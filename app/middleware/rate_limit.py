"""Rate limits in Redis: per client IP, per caller (user or API key), and stricter per-IP limits
on login and registration. Fixed one-minute windows; 429 with ``Retry-After`` when exceeded.

Counting: every process counts hits locally and adds them to the shared Redis counter
(``INCRBY``) at most once per ``sync_seconds`` per key; the first hit of a key in a window
always goes to Redis. A process decides with the last total Redis returned plus its own hits
since, so with one process the limit is exact, and with several it can be exceeded by what the
other processes admitted within one sync interval. This keeps a Redis round trip off almost
every request of a busy caller, which is what makes the limiter affordable on hot read paths.

Caller identity is read from the credential without verifying it (verification is the auth
dependency's job and costs a signature check). So a forged token cannot spend someone else's
budget, a request that ends in 401 gives its unit back.

Redis down: the limiter fails open to per-process limits. Availability of the shop matters more
than exact throttling while Redis is out, so requests are still counted and limited within each
process, and unsynced hits are added to Redis when it is back. After a Redis error the limiter
waits ``backoff_seconds`` before asking again, so an outage adds no latency to requests. Errors
are logged and counted (``storefront_rate_limit_backend_errors_total``).
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
    sync_seconds: float = 0.25


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


class Counter:
    """One key's count in the current window: Redis's last total plus this process's hits."""

    __slots__ = ("synced", "in_flight", "pending", "next_sync")

    def __init__(self) -> None:
        self.synced = 0  # the total Redis returned at the last sync (all processes)
        self.in_flight = 0  # hits being added to Redis right now
        self.pending = 0  # hits not yet sent
        self.next_sync = 0.0  # a new key syncs on its first hit

    @property
    def estimate(self) -> int:
        return self.synced + self.in_flight + self.pending


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits
        self._window = -1
        self._counters: dict[str, Counter] = {}
        self._redis_down_until = 0.0

    def _buckets(self, scope: Scope, ip: str, caller: str | None) -> list[tuple[str, str, int]]:
        """(limit name, counter key, limit) for every limit this request counts against."""
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
        if caller:
            buckets.append(("caller", f"rl:caller:{caller}", limits.per_caller))
        return buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        if window != self._window:  # a new minute: every count starts again
            self._window, self._counters = window, {}
        caller = caller_identity(scope) if self.limits.per_caller else None
        buckets = self._buckets(scope, request_context.client_ip.get() or "unknown", caller)
        counters = [self._counter(key) for _, key, _ in buckets]
        for counter in counters:
            counter.pending += 1
        await self._sync(window, [(key, c) for (_, key, _), c in zip(buckets, counters, strict=True)])

        for (limit_name, _, limit), counter in zip(buckets, counters, strict=True):
            if counter.estimate > limit:
                RATE_LIMITED.labels(limit_name).inc()
                retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
                await problem_response(
                    429, f"Rate limit of {limit} requests per minute exceeded ({limit_name})",
                    type_slug="rate-limited", headers={"Retry-After": str(retry_after)},
                )(scope, receive, send)
                return
        if not caller:
            await self.app(scope, receive, send)
            return

        status = 0

        async def send_tracking(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_tracking)
        if status == 401 and window == self._window:
            # The credential was not valid: the unit was not the claimed caller's to spend.
            counters[-1].pending -= 1

    def _counter(self, key: str) -> Counter:
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = Counter()
        return counter

    async def _sync(self, window: int, keyed: list[tuple[str, Counter]]) -> None:
        now = time.monotonic()
        if now < self._redis_down_until:
            return
        due = [(key, c) for key, c in keyed if now >= c.next_sync and c.pending]
        if not due:
            return
        for _, counter in due:
            counter.next_sync = now + self.limits.sync_seconds
            counter.in_flight, counter.pending = counter.pending, 0
        try:
            pipe = get_redis().pipeline(transaction=False)
            for key, counter in due:
                pipe.incrby(f"{key}:{window}", counter.in_flight)
                pipe.expire(f"{key}:{window}", WINDOW_SECONDS + 1, nx=True)
            totals = (await pipe.execute())[::2]
        except (RedisError, OSError) as exc:
            for _, counter in due:  # keep the hits for the next sync
                counter.pending += counter.in_flight
                counter.in_flight = 0
            self._backend_failed(exc)
            return
        for (_, counter), total in zip(due, totals, strict=True):
            counter.synced, counter.in_flight = int(total), 0

    def _backend_failed(self, exc: Exception) -> None:
        RATE_LIMIT_BACKEND_ERRORS.inc()
        self._redis_down_until = time.monotonic() + self.limits.backoff_seconds
        log.warning("rate limits counted per process: Redis unavailable (%s)", type(exc).__name__)
