"""A bounded background load through a Service: every request on a new connection (so it is
balanced by kube-proxy like a new client's), at a steady rate (two cores also run the node and
the pods), counted, and every failure kept with its cause."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Load:
    base_url: str
    request: Callable[[httpx.Client], httpx.Response] = lambda c: c.get("/products")
    max_seconds: float = 600
    per_second: float = 20
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        limits = httpx.Limits(max_keepalive_connections=0)
        started, sent = time.monotonic(), 0
        with httpx.Client(base_url=self.base_url, timeout=10, limits=limits) as client:
            while time.monotonic() < deadline:
                # The next request's slot in the schedule; stopping ends the wait at once.
                if self._stop.wait(max(0.0, started + sent / self.per_second - time.monotonic())):
                    break
                sent += 1
                try:
                    response = self.request(client)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code >= 400:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                else:
                    self.ok += 1

    def summary(self) -> str:
        return f"{self.ok} ok, {len(self.failures)} failed: {self.failures[:5]}"
