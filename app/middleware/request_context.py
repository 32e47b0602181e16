"""Correlation id, client IP, access log and the last-resort 500 for every request.

The correlation id is the client's ``X-Request-ID`` when it is a sane token, otherwise a new
UUID; it is echoed on every response (errors included) and put on every log line.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import internal_error_response
from app.core import request_context
from app.core.metrics import UNHANDLED_EXCEPTIONS

access_log = logging.getLogger("storefront.access")
error_log = logging.getLogger("storefront.error")

# Requests at least this slow are logged even when the access log is off.
SLOW_REQUEST_SECONDS = 1.0

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")


def request_id_from(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def client_ip_from(scope: Scope, trusted_proxy_count: int) -> str:
    """The caller's IP: with N trusted proxies in front, the Nth address from the right of
    X-Forwarded-For (anything further left is client-controlled and can be forged)."""
    if trusted_proxy_count > 0:
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                hops = [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
                if hops:
                    return hops[-min(trusted_proxy_count, len(hops))]
                break
    client = scope.get("client")
    return client[0] if client else "unknown"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxy_count: int = 0, access_log_enabled: bool = False) -> None:
        self.app = app
        self.trusted_proxy_count = trusted_proxy_count
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        header = (b"x-request-id", request_id.encode("latin-1"))
        id_token = request_context.correlation_id.set(request_id)
        ip_token = request_context.client_ip.set(client_ip_from(scope, self.trusted_proxy_count))
        actor_token = request_context.actor.set(None)
        status = 500
        started = False
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - the last resort: nothing about internals reaches the client
            UNHANDLED_EXCEPTIONS.labels(type(exc).__name__).inc()
            error_log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not started:
                await internal_error_response()(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - start
            if self.access_log_enabled or duration >= SLOW_REQUEST_SECONDS:
                route = scope.get("route")
                access_log.log(
                    logging.WARNING if duration >= SLOW_REQUEST_SECONDS else logging.INFO,
                    "%s %s %s", scope["method"], scope["path"], status,
                    extra={"method": scope["method"], "path": scope["path"], "status": status,
                           "route": getattr(route, "path", None), "duration_ms": round(duration * 1000, 2)},
                )
            request_context.actor.reset(actor_token)
            request_context.client_ip.reset(ip_token)
            request_context.correlation_id.reset(id_token)
