"""Waiting for something a real component does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 30, interval: float = 0.2, message: str = "condition",
             diagnostics: Callable[[], str] | None = None) -> T:
    """Polls ``check`` until it returns something truthy and returns that. Exceptions count as
    "not yet" until the deadline, when the last one is quoted in the AssertionError, followed by
    what ``diagnostics`` returns (a log tail, say)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(interval)
    detail = f"timed out waiting for {message}" + (f": {last_error}" if last_error else "")
    raise AssertionError(detail + (f"\n{diagnostics()}" if diagnostics else ""))
