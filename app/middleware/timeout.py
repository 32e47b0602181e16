"""Ends requests that run longer than the timeout with 504 (and cancels their work)."""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response

log = logging.getLogger(__name__)


class TimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        deadline = asyncio.timeout(self.timeout_seconds)
        try:
            async with deadline:
                await self.app(scope, receive, send_tracking)
        except TimeoutError:
            if not deadline.expired():  # a TimeoutError of the app's own, not ours
                raise
            log.warning("request timed out after %ss", self.timeout_seconds,
                        extra={"path": scope["path"], "method": scope["method"]})
            if started:
                raise
            await problem_response(
                504, f"The request did not complete within {self.timeout_seconds:g} seconds",
                type_slug="request-timeout",
            )(scope, receive, send)
