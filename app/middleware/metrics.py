"""Request count, latency and error metrics, labelled by route template (not raw path)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.metrics import HTTP_ERRORS, HTTP_LATENCY, HTTP_REQUESTS

# Requests that match no route share one label, so scanners cannot explode the cardinality.
UNMATCHED = "<unmatched>"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Labelled children, looked up once per (method, route, status): .labels() is not free.
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def _series(self, method: str, template: str, status: int) -> tuple[Any, Any, Any]:
        key = (method, template, status)
        series = self._children.get(key)
        if series is None:
            errors = HTTP_ERRORS.labels(template, str(status)) if status >= 400 else None
            series = (HTTP_LATENCY.labels(method, template), HTTP_REQUESTS.labels(method, template, str(status)), errors)
            self._children[key] = series
        return series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_tracking(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            latency, requests, errors = self._series(scope["method"], template, status)
            latency.observe(time.perf_counter() - start)
            requests.inc()
            if errors is not None:
                errors.inc()
