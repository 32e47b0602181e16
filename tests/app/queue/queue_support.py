"""Helpers for the queue tests: a loopback webhook receiver that verifies signatures and
de-duplicates by event id (as a careful receiver does), worker subprocesses, and polling."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from app.core.config import Settings
from app.services import webhooks
from storefront_harness.process import free_port, spawn, stop

ROOT = Path(__file__).resolve().parents[3]


class Receiver:
    """Records every POST; ``processed`` holds each event id once (the idempotent check).
    ``hold`` makes the handler wait (a slow receiver) until released or the client goes away."""

    def __init__(self, status: int = 200):
        self.secret = ""
        self.status = status
        self.lock = threading.Lock()
        self.attempts: list[dict] = []
        self.processed: dict[str, dict] = {}
        self.bad_signatures = 0
        self.in_flight: Counter[str] = Counter()
        self.max_overlap = 0
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event_id = self.headers.get(webhooks.EVENT_ID_HEADER, "")
                with receiver.lock:
                    receiver.in_flight[event_id] += 1
                    receiver.max_overlap = max(receiver.max_overlap, receiver.in_flight[event_id])
                receiver.arrived.set()
                try:
                    receiver.hold.wait(30)
                    ok = webhooks.verify(receiver.secret, self.headers.get(webhooks.SIGNATURE_HEADER, ""), body,
                                         now=int(time.time()))
                    with receiver.lock:
                        receiver.attempts.append({"event_id": event_id, "ok": ok,
                                                  "attempt": self.headers.get(webhooks.ATTEMPT_HEADER),
                                                  "traceparent": self.headers.get("traceparent")})
                        if not ok:
                            receiver.bad_signatures += 1
                        elif receiver.status < 300 and event_id not in receiver.processed:
                            receiver.processed[event_id] = json.loads(body)
                    self.send_response(receiver.status if ok else 400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    with receiver.lock:
                        receiver.in_flight[event_id] -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def worker_env(settings: Settings, **overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STOREFRONT_ENVIRONMENT": "test",
        "STOREFRONT_LOG_JSON": "false",
        "STOREFRONT_DATABASE_URL": settings.database_url.get_secret_value(),
        "STOREFRONT_REDIS_URL": settings.redis_url,
        "STOREFRONT_PII_ENCRYPTION_KEY": settings.pii_encryption_key.get_secret_value(),
        "STOREFRONT_BLIND_INDEX_KEY": settings.blind_index_key.get_secret_value(),
        "STOREFRONT_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "STOREFRONT_WEBHOOK_TIMEOUT_SECONDS": "2",
        "STOREFRONT_WEBHOOK_BACKOFF_BASE_SECONDS": "0.05",
        "STOREFRONT_OUTBOX_POLL_INTERVAL_SECONDS": "0.05",
        "STOREFRONT_QUEUE_CLAIM_IDLE_SECONDS": "2",
        "STOREFRONT_QUEUE_RETRY_BASE_SECONDS": "0.05",
    }
    env.update(overrides)
    return env


class WorkerProcess:
    """``python -m app.worker`` in its own process group, its log in ``log``."""

    def __init__(self, env: dict[str, str], log: Path, name: str):
        self.port = free_port()
        self.log = log
        self.proc: subprocess.Popen = spawn(
            [sys.executable, "-m", "app.worker", "--host", "127.0.0.1", "--port", str(self.port)], log,
            env={**env, "STOREFRONT_WORKER_CONSUMER_NAME": name}, cwd=ROOT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(lambda: self._status("/ready") == 200, timeout, lambda: f"worker not ready:\n{self.tail()}")

    def _status(self, path: str) -> int | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
        try:
            return httpx.get(self.url + path, timeout=2).status_code
        except httpx.HTTPError:
            return None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def kill(self) -> None:
        stop(self.proc, sig=9)

    def terminate(self, timeout: float = 30) -> int:
        stop(self.proc, timeout=timeout)
        return self.proc.returncode


def wait_for(condition: Callable[[], object], timeout: float, message: str | Callable[[], str] = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message or "condition not met")
        time.sleep(0.05)


async def async_wait_for(condition: Callable[[], object], seconds: float, message: str = "") -> None:
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(message or "condition not met")
        await asyncio.sleep(0.05)
