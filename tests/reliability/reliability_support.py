"""Helpers shared by the reliability suites."""

from __future__ import annotations

import httpx


def assert_problem(response: httpx.Response, status: int | tuple[int, ...] | None = None) -> dict:
    """The response is an RFC 9457 problem document of a 4xx/5xx status."""
    expected = (status,) if isinstance(status, int) else status
    if expected is not None:
        assert response.status_code in expected, f"{response.status_code} not in {expected}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers["content-type"]
    body = response.json()
    for field in ("type", "title", "status", "detail", "correlation_id"):
        assert field in body, f"problem document lacks {field}: {body}"
    assert body["status"] == response.status_code
    assert body["correlation_id"] == response.headers.get("x-request-id")
    return body


def wait_for_status(client: httpx.Client, path: str, status: int, timeout: float) -> float:
    """Polls ``path`` until it answers ``status``; returns how long that took (seconds)."""
    import time

    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        try:
            last = client.get(path, timeout=5).status_code
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        if last == status:
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"{path} did not answer {status} within {timeout}s (last: {last})")
