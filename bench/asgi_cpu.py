"""In-process CPU time per request, by calling the ASGI app directly (no sockets, no HTTP parser).

``python -m bench.asgi_cpu --path /products --token T --requests N`` with the app's environment
(and ``BENCH_DROP_MIDDLEWARE`` for a variant) prints JSON: CPU microseconds per request of this
process (``time.process_time``, so time spent waiting on Redis or PostgreSQL is not counted,
and neither is other processes' load on the machine — which makes this the steadier way to
attribute cost to layers on a shared machine than throughput under load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


async def _measure(factory: str, path: str, token: str | None, requests: int, warmup: int,
                   method: str = "GET", body: bytes = b"") -> dict:
    import importlib

    from asgi_lifespan import LifespanManager

    module, _, name = factory.partition(":")
    app = getattr(importlib.import_module(module), name)()
    headers = [(b"host", b"bench")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_path, _, query = path.partition("?")
    statuses: dict[int, int] = {}

    async def one() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000)}
        sent = False

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)  # no disconnect while the response is produced
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(scope, receive, send)

    async with LifespanManager(app):
        for _ in range(warmup):
            await one()
        statuses.clear()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(requests):
            await one()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu_us": cpu / requests * 1e6, "wall_us": wall / requests * 1e6, "statuses": statuses}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factory", default="bench.apps:storefront_app")
    parser.add_argument("--path", default="/products")
    parser.add_argument("--token")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="", help="JSON request body (sent with every request)")
    args = parser.parse_args()
    result = asyncio.run(_measure(args.factory, args.path, args.token, args.requests, args.warmup,
                                  args.method, args.body.encode()))
    print("\nBENCH-RESULT " + json.dumps(result), flush=True)  # the app's own logs share stdout
    return 0


if __name__ == "__main__":
    sys.exit(main())


def measure(env: dict, *, factory: str = "bench.apps:storefront_app", path: str = "/products",
            token: str | None = None, requests: int = 3000, drop: str = "", cwd: str | None = None,
            method: str = "GET", body: str = "") -> dict:
    """Runs one measurement in a fresh process with the app's environment."""
    import subprocess

    from bench.services import PY, ROOT

    args = [PY, "-m", "bench.asgi_cpu", "--factory", factory, "--path", path, "--requests", str(requests)]
    if token:
        args += ["--token", token]
    if method != "GET" or body:
        args += ["--method", method, "--body", body]
    out = subprocess.run(args, env={**env, "BENCH_DROP_MIDDLEWARE": drop}, cwd=cwd or ROOT, capture_output=True, text=True,
                         timeout=600)
    line = next((item for item in out.stdout.splitlines() if item.startswith("BENCH-RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"in-process measurement failed: {out.stderr[-1500:]}")
    return json.loads(line.removeprefix("BENCH-RESULT "))
