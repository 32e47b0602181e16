"""Profiles the hottest path, authenticated ``GET /products``, with pyinstrument.

``python -m bench.profile [--requests N] [--out FILE]``: real PostgreSQL and Redis from the
harness, the app built by ``create_app`` from the same environment the benchmarks use, and N
requests driven in-process through its ASGI interface (no sockets, so the profile shows the
app's own work rather than the kernel's). Prints pyinstrument's text report; ``--out`` also
writes it to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import httpx

from bench import api
from bench.services import ADMIN_EMAIL, Workdir


async def _profile(requests: int, token: str, interval: float) -> str:
    from asgi_lifespan import LifespanManager
    from pyinstrument import Profiler

    from bench.apps import storefront_app

    app = storefront_app()
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = api.bearer(token)
            for _ in range(200):  # warm caches and pools first
                (await client.get("/products", headers=headers)).raise_for_status()
            profiler = Profiler(interval=interval, async_mode="enabled")
            profiler.start()
            for _ in range(requests):
                await client.get("/products", headers=headers)
            profiler.stop()
    return profiler.output_text(unicode=True, color=False, show_all=os.environ.get("BENCH_PROFILE_ALL") == "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval in seconds")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with Workdir("profile") as work:
        ds = work.datastores()
        server = work.server("bench.apps:storefront_app", ds.env, "app")
        with api.client(server.url) as http:
            admin = api.login(http, ADMIN_EMAIL, ds.admin_password)["access_token"]
            for i in range(20):
                api.create_product(http, admin, f"Profiled product {i:02d}", stock=100)
            token = api.login(http, api.register(http), api.PASSWORD)["access_token"]
        server.stop()
        os.environ.update(ds.env)
        report = asyncio.run(_profile(args.requests, token, args.interval))
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
