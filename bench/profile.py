"""Profiles the hot paths with pyinstrument: authenticated ``GET /products`` (the hottest),
the token-verified requests ``GET /users/me``, ``GET /orders/{id}``, ``GET /orders`` and
``POST /orders``, and ``POST /auth/login`` (to see what a login costs besides argon2).

``python -m bench profile`` writes the reports into docs/BENCHMARKS.md. Real PostgreSQL and
Redis from the harness; the app built by ``create_app`` from the same environment the other
benchmarks use, driven in-process through its ASGI interface (no sockets, so the profile
shows the app's own work rather than the kernel's). The profiler samples the event-loop
thread: argon2, which runs in a worker thread, shows up as the ``to_thread`` await.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from bench import api
from bench.argon2_rate import Argon2Params
from bench.context import Context
from bench.report import Section, Table
from bench.services import ADMIN_EMAIL, Workdir

HEADING = "Profile of the hot paths"


async def _profile(token: str, email: str, reads: int, logins: int, order_id: str, product_ids: list[str]) -> dict:
    from asgi_lifespan import LifespanManager
    from pyinstrument import Profiler

    from bench.apps import storefront_app

    app = storefront_app()
    out: dict = {}
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = api.bearer(token)
            for _ in range(200):  # warm caches and pools first
                (await client.get("/products", headers=headers)).raise_for_status()
            profiler = Profiler(interval=0.0005, async_mode="enabled")
            profiler.start()
            for _ in range(reads):
                await client.get("/products", headers=headers)
            profiler.stop()
            out["reads"] = profiler.output_text(unicode=True, color=False, show_all=False)

            profiler = Profiler(interval=0.0005, async_mode="enabled")
            profiler.start()
            for _ in range(reads // 4):
                (await client.get("/users/me", headers=headers)).raise_for_status()
            profiler.stop()
            out["me"] = profiler.output_text(unicode=True, color=False, show_all=False)

            orders = {"order": lambda i: client.get(f"/orders/{order_id}", headers=headers),
                      "orders": lambda i: client.get("/orders?limit=20", headers=headers),
                      "place": lambda i: client.post("/orders", headers=headers, json={
                          "items": [{"product_id": product_ids[i % len(product_ids)], "quantity": 1}]})}
            for name, request in orders.items():
                (await request(0)).raise_for_status()
                profiler = Profiler(interval=0.0005, async_mode="enabled")
                profiler.start()
                for i in range(reads // 4):
                    (await request(i)).raise_for_status()
                profiler.stop()
                out[name] = profiler.output_text(unicode=True, color=False, show_all=False)

            body = {"email": email, "password": api.PASSWORD}
            (await client.post("/auth/login", json=body)).raise_for_status()
            profiler = Profiler(interval=0.0005, async_mode="enabled")
            profiler.start()
            t0 = time.perf_counter()
            for _ in range(logins):
                (await client.post("/auth/login", json=body)).raise_for_status()
            out["login_ms"] = (time.perf_counter() - t0) / logins * 1000
            profiler.stop()
            out["login"] = profiler.output_text(unicode=True, color=False, show_all=False)
    return out


def _single_verify_ms(params: Argon2Params, count: int = 30) -> float:
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                            parallelism=params.parallelism, hash_len=32, salt_len=16, type=Type.ID)
    stored = hasher.hash(api.PASSWORD)
    t0 = time.perf_counter()
    for _ in range(count):
        hasher.verify(stored, api.PASSWORD)
    return (time.perf_counter() - t0) / count * 1000


def run(ctx: Context) -> Section:
    reads, logins = (300, 10) if ctx.quick else (2000, 60)
    with Workdir("profile") as work:
        ds = work.datastores()
        server = work.server("bench.apps:storefront_app", ds.env, "app")
        with api.client(server.url) as http:
            admin = api.login(http, ADMIN_EMAIL, ds.admin_password)["access_token"]
            product_ids = [api.create_product(http, admin, f"Profiled product {i:02d}", stock=100_000)
                           for i in range(20)]
            email = api.register(http)
            token = api.login(http, email, api.PASSWORD)["access_token"]
            for product_id in product_ids:  # a page of 20 orders
                r = http.post("/orders", headers=api.bearer(token), json={"items": [{"product_id": product_id, "quantity": 1}]})
                r.raise_for_status()
            order_id = r.json()["id"]
        server.stop()
        saved = dict(os.environ)
        os.environ.update(ds.env)
        try:
            out = asyncio.run(_profile(token, email, reads, logins, order_id, product_ids))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        params = Argon2Params.configured()
    verify_ms = _single_verify_ms(params)

    section = Section("profile", HEADING, ctx.command("profile"))
    t = Table("One login, sequential, in-process", ["what", "ms"])
    t.add(f"POST /auth/login end to end ({logins} logins)", f"{out['login_ms']:.1f}")
    t.add(f"one argon2id verification alone ({params.label()})", f"{verify_ms:.1f}")
    t.add("everything else a login does (lookup, throttle, session, audit, tokens)", f"{out['login_ms'] - verify_ms:.1f}")
    section.tables.append(t)
    section.note("Reports below: pyinstrument, wall time of the event-loop thread, library frames folded.")
    section.blocks.append((f"GET /products with a token, {reads} requests in a row:", _trim(out["reads"])))
    section.blocks.append((f"GET /users/me (token verified), {reads // 4} requests in a row:", _trim(out["me"])))
    section.blocks.append((f"GET /orders/{{id}} (token verified), {reads // 4} requests in a row:", _trim(out["order"])))
    section.blocks.append((f"GET /orders, a page of 20 (token verified), {reads // 4} requests in a row:",
                           _trim(out["orders"])))
    section.blocks.append((f"POST /orders, one line (token verified), {reads // 4} requests in a row:",
                           _trim(out["place"])))
    section.blocks.append((f"POST /auth/login, {logins} requests in a row:", _trim(out["login"])))
    return section


def _trim(report: str) -> str:
    """Drops pyinstrument's banner and the frames of the driving loop above the app."""
    lines = report.splitlines()
    start = next((i for i, line in enumerate(lines) if "AsyncClient." in line), 0)
    return "\n".join(lines[start:start + 60])
