"""Waiting for something a real component does in its own time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 30, interval: float = 0.2, message: str = "condition",
             diagnostics: Callable[[], str] | None = None, give_up: Callable[[], str | None] | None = None) -> T:
    """Polls ``check`` until it returns something truthy and returns that. Exceptions count as
    "not yet" until the deadline, when the last one is quoted in the AssertionError, followed by
    what ``diagnostics`` returns (a log tail, say). ``give_up`` ends the wait early: it returns
    why waiting is pointless (the process that should act has exited), or None to go on."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        if give_up is not None and (reason := give_up()):
            raise AssertionError(f"gave up waiting for {message}: {reason}")
        time.sleep(interval)
    detail = f"timed out waiting for {message}" + (f": {last_error}" if last_error else "")
    raise AssertionError(detail + (f"\n{diagnostics()}" if diagnostics else ""))


async def wait_for_async(check: Callable[[], Awaitable[T]], timeout: float = 30, interval: float = 0.1,  # noqa: ASYNC109 - a polling deadline, as in wait_for
                         message: str = "condition") -> T:
    """``wait_for`` for an async ``check``, sleeping without blocking the event loop."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = await check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}" + (f": {last_error}" if last_error else ""))
