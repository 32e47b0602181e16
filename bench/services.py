"""Real datastores from the harness and the app under uvicorn in a subprocess.

Everything binds to loopback on free ports, lives in one temporary directory and is stopped
when the ``with`` block ends.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack"))

from storefront_harness import PostgresServer, RedisServer  # noqa: E402
from storefront_harness.process import free_port, port_open, spawn, stop  # noqa: E402

PY = sys.executable
# Limits far above any rate the benchmarks reach: the limiter still does its Redis work on
# every request (so its cost is measured) but never answers 429.
UNREACHABLE_LIMIT = "100000000"
ADMIN_EMAIL = "bench-admin@example.com"


class Datastores:
    """PostgreSQL and Redis for one benchmark, with a migrated database and a keyset."""

    def __init__(self, work: Path, **overrides: str):
        self.work = work
        self.overrides = overrides  # extra STOREFRONT_* settings, e.g. shorter timeouts for fault tests
        self.pg = PostgresServer(work / "postgres")
        self.redis = RedisServer(work / "redis")
        self.keyset = work / "keyset.json"
        self.admin_password = secrets.token_urlsafe(18)
        self.env: dict[str, str] = {}

    def start(self) -> Datastores:
        self.pg.start()
        self.redis.start()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT) + os.pathsep + str(ROOT / "operator"),
            "STOREFRONT_ENVIRONMENT": "production",
            "STOREFRONT_DATABASE_URL": self.pg.create_database("storefront"),
            "STOREFRONT_REDIS_URL": self.redis.url,
            "STOREFRONT_JWT_KEYSET_FILE": str(self.keyset),
            "STOREFRONT_PII_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "STOREFRONT_BLIND_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "STOREFRONT_RATE_LIMIT_PER_USER_PER_MINUTE": UNREACHABLE_LIMIT,
            "STOREFRONT_RATE_LIMIT_PER_IP_PER_MINUTE": UNREACHABLE_LIMIT,
            "STOREFRONT_RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE": UNREACHABLE_LIMIT,
            "STOREFRONT_RATE_LIMIT_REGISTER_PER_IP_PER_MINUTE": UNREACHABLE_LIMIT,
            "STOREFRONT_LOGIN_MAX_FAILURES_PER_IP": UNREACHABLE_LIMIT,
            **self.overrides,
        }
        out = subprocess.run([PY, "-m", "bench.prepare", "--keyset", str(self.keyset), "--admin-email", ADMIN_EMAIL],
                             input=self.admin_password, env=self.env, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"preparing the database failed: {out.stderr[-2000:]}")
        return self

    def stop(self) -> None:
        self.redis.stop()
        self.pg.stop()


class Server:
    """One ASGI app under uvicorn; the same flags for the app and for the baseline."""

    def __init__(self, factory: str, env: dict[str, str], log: Path, workers: int = 1, cwd: Path = ROOT,
                 cpus: set[int] | None = None):
        self.factory = factory
        self.cpus = cpus  # pinned to these CPUs from its first instruction (its threads inherit it)
        self.env = env
        self.log = log
        self.workers = workers
        self.cwd = cwd  # ``python -m`` puts it first on sys.path: another checkout's app/ is served from there
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        self.proc = spawn(
            [PY, "-m", "uvicorn", "--factory", self.factory, "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
             "--log-level", "warning", "--timeout-graceful-shutdown", "5"],
            self.log, env=self.env, cwd=self.cwd,
            preexec_fn=(lambda: os.sched_setaffinity(0, self.cpus)) if self.cpus else None,
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
                self.stop()
                raise RuntimeError(f"{self.factory} did not start:\n{tail}")
            time.sleep(0.2)
        return self

    def _answers(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            return httpx.get(self.url + "/products", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Workdir:
    """A temporary directory that holds logs and data; kept when BENCH_KEEP=1 for post-mortems."""

    def __init__(self, prefix: str):
        self.path = Path(tempfile.mkdtemp(prefix=f"sf-bench-{prefix}-"))
        self.path.chmod(0o755)  # PostgreSQL runs as its own user when we are root and must reach its data dir
        self.stack = ExitStack()

    def __enter__(self) -> Workdir:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stack.close()
        finally:  # the directory goes even when stopping something failed
            if os.environ.get("BENCH_KEEP") != "1":
                shutil.rmtree(self.path, ignore_errors=True)
            else:
                print(f"[bench] kept {self.path}", file=sys.stderr)

    def datastores(self, **overrides: str) -> Datastores:
        ds = Datastores(self.path, **overrides).start()
        self.stack.callback(ds.stop)
        return ds

    def server(self, factory: str, env: dict[str, str], name: str, workers: int = 1, cwd: Path = ROOT,
               cpus: set[int] | None = None, **extra_env: str) -> Server:
        server = Server(factory, {**env, **extra_env}, self.path / f"{name}.log", workers, cwd, cpus).start()
        self.stack.callback(server.stop)
        return server
