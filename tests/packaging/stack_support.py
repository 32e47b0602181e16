"""The API and the worker as the images run them (``python -m app.cli serve``, ``python -m
app.worker``) on loopback against the harness's PostgreSQL and Redis, with a migrated database,
a keyset and an admin, plus a webhook receiver: what the monitoring and tracing backends are
pointed at."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import redis

from storefront_harness.polling import wait_for
from storefront_harness.process import free_port, spawn, stop

REPO = Path(__file__).resolve().parents[2]


class WebhookReceiver:
    """Answers every POST with 204 and keeps the event ids and ``traceparent`` headers."""

    def __init__(self) -> None:
        self.received: list[dict[str, str | None]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append({"event_id": self.headers.get("Storefront-Event-Id"),
                                          "event_type": self.headers.get("Storefront-Event-Type"),
                                          "traceparent": self.headers.get("traceparent")})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Stack:
    """``with Stack(database_url, redis_url, workdir, **env) as stack:`` ... ``stack.api``,
    ``stack.worker_url``, ``stack.admin_headers``; the logs are in ``workdir``."""

    def __init__(self, database_url: str, redis_url: str, workdir: Path, **env: str):
        self.workdir = workdir
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "STOREFRONT_ENVIRONMENT": "test",
            "STOREFRONT_DATABASE_URL": database_url,
            "STOREFRONT_REDIS_URL": redis_url,
            "STOREFRONT_JWT_KEYSET_FILE": str(workdir / "keyset.json"),
            "STOREFRONT_TERMINATION_LOG": str(workdir / "termination-log"),
            "STOREFRONT_PII_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
            "STOREFRONT_BLIND_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
            "STOREFRONT_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "STOREFRONT_OUTBOX_POLL_INTERVAL_SECONDS": "0.05",
            **env,
        }
        self.api_port, self.worker_port = free_port(), free_port()
        self.admin_email, self.admin_password = "admin@example.com", secrets.token_urlsafe(18)
        self.procs: list[subprocess.Popen] = []

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_port}"

    def _cli(self, *args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "app.cli", *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"app.cli {args[0]}: {done.stdout[-2000:]}{done.stderr[-2000:]}"

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.workdir.glob("*.log")))

    def __enter__(self) -> Stack:
        # A clean Redis, as every app test starts with: no rate-limit counts left by an earlier test.
        client = redis.Redis.from_url(self.env["STOREFRONT_REDIS_URL"])
        try:
            client.flushall()
        finally:
            client.close()
        self._cli("migrate")
        self._cli("keyset", "generate", "--out", self.env["STOREFRONT_JWT_KEYSET_FILE"])
        # --password=... : a generated password may start with a dash.
        self._cli("create-admin", "--email", self.admin_email, f"--password={self.admin_password}", "--name", "Admin")
        try:
            self.procs.append(spawn([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
                                     "--port", str(self.api_port)], self.workdir / "api.log", env=self.env, cwd=REPO))
            self.procs.append(spawn([sys.executable, "-m", "app.worker", "--host", "127.0.0.1",
                                     "--port", str(self.worker_port)], self.workdir / "worker.log", env=self.env,
                                    cwd=REPO))
            # Importing the app is seconds of CPU; a busy machine stretches that to most of a minute.
            for url in (self.api, self.worker_url):
                wait_for(lambda url=url: httpx.get(f"{url}/ready", timeout=2).status_code == 200, 120,
                         message=f"{url}/ready", diagnostics=self.logs, give_up=self._exited)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _exited(self) -> str | None:
        gone = [p.args[2] for p in self.procs if p.poll() is not None]
        return f"{gone} exited:\n{self.logs()}" if gone else None

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            stop(proc, timeout=30)

    def login(self, email: str, password: str) -> httpx.Response:
        return httpx.post(f"{self.api}/auth/login", json={"email": email, "password": password}, timeout=30)

    def admin_headers(self) -> dict[str, str]:
        r = self.login(self.admin_email, self.admin_password)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def shop_with_webhook(self, receiver: WebhookReceiver, product_name: str, price: str, stock: int
                          ) -> tuple[str, str, dict[str, str]]:
        """A webhook for order.placed to ``receiver``, a product and a logged-in customer, through
        the API; returns (product id, customer email, the customer's headers)."""
        admin = self.admin_headers()
        r = httpx.post(f"{self.api}/webhooks", json={"url": receiver.url, "events": ["order.placed"]}, headers=admin)
        assert r.status_code == 201, r.text
        r = httpx.post(f"{self.api}/products", json={"name": product_name, "price": price, "stock": stock},
                       headers=admin)
        assert r.status_code == 201, r.text
        product = r.json()["id"]
        email, password = f"user-{uuid.uuid4().hex[:8]}@example.com", f"Pw-{uuid.uuid4().hex}"
        r = httpx.post(f"{self.api}/auth/register", json={"email": email, "password": password, "name": "Buyer"},
                       timeout=30)
        assert r.status_code == 201, r.text
        r = self.login(email, password)
        assert r.status_code == 200, r.text
        return product, email, {"Authorization": f"Bearer {r.json()['access_token']}"}

    def place_order(self, product: str, headers: dict[str, str]) -> None:
        r = httpx.post(f"{self.api}/orders", json={"items": [{"product_id": product, "quantity": 1}]}, headers=headers)
        assert r.status_code == 201, r.text
