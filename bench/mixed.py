"""p99 under a mixed load: 70% catalog reads, 20% token-verified reads, 8% orders, 2% logins,
offered at a fixed rate below saturation, with and without the logins.

Method: one uvicorn worker; the Python load generator in its own process sends on an open-loop
schedule (``open_mix``: the rate does not drop when answers slow down, so queueing shows in the
latencies). The same seeded mix is offered twice per round: once as is, once with the logins
left out and every other class at the same absolute rate. Rounds alternate the two, so each
ratio pairs runs taken moments apart. The question asked: does a login (argon2 in its bounded
pool) push the p99 of the other requests past 3x their p99 without logins?
"""

from __future__ import annotations

import os

from bench import api, loadgen
from bench.context import Context
from bench.report import Section, Table
from bench.services import ADMIN_EMAIL, Workdir
from bench.stats import Spread, percentile, ratios

HEADING = "Mixed load: p99 per endpoint, with and without logins"
# The offered rate is this share of the mix's capacity, measured first in the same run by a
# closed-loop burst of the same mix (``BENCH_MIXED_RATE`` fixes it instead).
LOAD_FACTOR = 0.5
SECONDS = 30.0
CUSTOMERS = 12
PRODUCTS = 20
LIMIT = 3.0  # the p99 with logins may be at most this multiple of the p99 without
WEIGHTS = {"catalog": 70, "authenticated read": 20, "order": 8, "login": 2}


def _classes(products: list[str], customers: list[tuple[str, str, str]]) -> list[dict]:
    """customers: (email, access token, one of their order ids)."""
    catalog = [{"path": "/products?limit=20"}] + [{"path": f"/products/{p}"} for p in products]
    reads = []
    for _, token, order_id in customers:
        headers = api.bearer(token)
        reads += [{"path": "/users/me", "headers": headers},
                  {"path": f"/orders/{order_id}", "headers": headers},
                  {"path": "/orders?limit=20", "headers": headers}]
    orders = [{"method": "POST", "path": "/orders", "headers": api.bearer(token),
               "json": {"items": [{"product_id": products[i % len(products)], "quantity": 1}]}}
              for i, (_, token, _) in enumerate(customers)]
    logins = [{"method": "POST", "path": "/auth/login", "json": {"email": email, "password": api.PASSWORD}}
              for email, _, _ in customers]
    return [{"name": "catalog", "weight": WEIGHTS["catalog"], "requests": catalog, "ok": [200]},
            {"name": "authenticated read", "weight": WEIGHTS["authenticated read"], "requests": reads, "ok": [200]},
            {"name": "order", "weight": WEIGHTS["order"], "requests": orders, "ok": [201]},
            {"name": "login", "weight": WEIGHTS["login"], "requests": logins, "ok": [200]}]


def _capacity(base_url: str, classes: list[dict], seconds: float) -> float:
    """Requests per second one worker answers for this mix with 16 clients always waiting."""
    import random

    rng = random.Random(0)
    picks = rng.choices(classes, weights=[c["weight"] for c in classes], k=200)
    requests = [c["requests"][i % len(c["requests"])] for i, c in enumerate(picks)]
    result = loadgen.run({"base_url": base_url, "scenario": "repeat", "requests": requests, "cycle": True,
                          "concurrency": 16, "seconds": seconds, "connections": 16}, timeout=seconds + 120)
    return sum(result["statuses"].values()) / result["wall_seconds"]


def _offer(base_url: str, classes: list[dict], rate: float, seconds: float, seed: int) -> dict:
    plan = {"base_url": base_url, "scenario": "open_mix", "classes": classes, "rate": rate, "seconds": seconds,
            "seed": seed, "connections": 256, "timeout_seconds": 30}
    return loadgen.run(plan, timeout=seconds + 120)


def run(ctx: Context) -> Section:
    seconds = 5.0 if ctx.quick else max(ctx.seconds, SECONDS)
    with_logins: list[dict] = []
    without: list[dict] = []
    with Workdir("mixed") as work:
        ds = work.datastores()
        app = work.server("bench.apps:storefront_app", ds.env, "app")
        with api.client(app.url) as http:
            admin = api.login(http, ADMIN_EMAIL, ds.admin_password)["access_token"]
            products = [api.create_product(http, admin, f"Mixed product {i:02d}", stock=10_000_000)
                        for i in range(PRODUCTS)]
            customers = []
            for i in range(CUSTOMERS):
                email = api.register(http, f"mix{i}-")
                token = api.login(http, email, api.PASSWORD)["access_token"]
                placed = http.post("/orders", headers=api.bearer(token),
                                   json={"items": [{"product_id": products[i % PRODUCTS], "quantity": 1}]})
                placed.raise_for_status()
                customers.append((email, token, placed.json()["id"]))
        classes = _classes(products, customers)
        others = [c for c in classes if c["name"] != "login"]
        _capacity(app.url, classes, 3)  # warm-up: pools, caches, the argon2 pool's threads
        capacity = _capacity(app.url, classes, 5 if ctx.quick else 10)
        rate = float(os.environ.get("BENCH_MIXED_RATE") or round(capacity * LOAD_FACTOR))
        rate_without = rate * (100 - WEIGHTS["login"]) / 100
        for r in range(ctx.repeats):
            ctx.log(f"mixed: round {r + 1}/{ctx.repeats}, {rate:g} req/s for {seconds:g} s, then without logins")
            with_logins.append(_offer(app.url, classes, rate, seconds, seed=r + 1))
            without.append(_offer(app.url, others, rate_without, seconds, seed=r + 1))
    return _section(ctx, seconds, rate, capacity, with_logins, without)


def _saturated(result: dict) -> bool:
    """Answers fell behind the schedule: the last ones came over 2 s after the last was offered."""
    bad = sum(result["failed_by_class"].values()) + sum(result["shed_by_class"].values())
    return bad > 0 or result["wall_seconds"] > result["offered_seconds"] + 2.0


def _p(result: dict, name: str, q: float) -> float:
    return percentile(result["by_class"][name], q)


def _section(ctx: Context, seconds: float, rate: float, capacity: float, with_logins: list[dict],
             without: list[dict]) -> Section:
    section = Section("mixed", HEADING, ctx.command("mixed"))
    t = Table(f"Offered {rate:g} req/s for {seconds:g} s, open loop, 1 uvicorn worker; median (min–max) over "
              f"{len(with_logins)} rounds",
              ["endpoint class", "share", "p50 ms, with logins", "p99 ms, with logins", "p50 ms, without",
               "p99 ms, without", "p99 with / without", "failed or shed"])
    worst = 0.0
    for name, weight in WEIGHTS.items():
        p50_with = Spread.of(_p(r, name, 50) for r in with_logins)
        p99_with = Spread.of(_p(r, name, 99) for r in with_logins)
        bad = sum(r["failed_by_class"].get(name, 0) + r["shed_by_class"].get(name, 0) for r in with_logins)
        if name == "login":
            t.add(name, f"{weight}%", p50_with.format("{:.1f}"), p99_with.format("{:.1f}"), "", "", "", str(bad))
            continue
        bad += sum(r["failed_by_class"].get(name, 0) + r["shed_by_class"].get(name, 0) for r in without)
        p99_without = [_p(r, name, 99) for r in without]
        ratio = ratios([_p(r, name, 99) for r in with_logins], p99_without)
        worst = max(worst, ratio.median)
        t.add(name, f"{weight}%", p50_with.format("{:.1f}"), p99_with.format("{:.1f}"),
              Spread.of(_p(r, name, 50) for r in without).format("{:.1f}"), Spread.of(p99_without).format("{:.1f}"),
              f"{ratio.median:.2f}× ({ratio.low:.2f}–{ratio.high:.2f})", str(bad))
    section.tables.append(t)
    section.note(f"Capacity for this mix measured first (16 clients, closed loop): {capacity:.0f} req/s; "
                 f"offered {rate:g} req/s ({rate / capacity:.0%} of it).")
    section.note("Catalog: `GET /products?limit=20` and `GET /products/{id}` (public, cached). Authenticated read: "
                 "`GET /users/me`, `GET /orders/{id}`, `GET /orders?limit=20` in turn, 12 customers' tokens. "
                 "Order: `POST /orders`, one line. Login: `POST /auth/login` (argon2id at the configured parameters).")
    section.note("*Failed or shed* counts non-2xx answers, socket errors and requests the generator could not "
                 "send because 512 were already in flight; any at all means the offered rate was not below "
                 "saturation and the figures are not comparable.")
    saturated = sum(_saturated(r) for r in with_logins + without)
    if saturated:
        section.note(f"{saturated} of {len(with_logins) + len(without)} runs fell behind the schedule (answers "
                     "over 2 s late, or requests failed or shed): the offered rate was not below saturation.")
    failures = [f for r in with_logins + without for f in r["failures"]][:5]
    if failures:
        section.note("First failures: " + "; ".join(
            f"{f['url'].split('?')[0]} → {f.get('status') or f.get('error')}"
            + (f" {f['body'][:120]!r}" if f.get("body") else "") for f in failures))
    verdict = "not comparable: saturated" if saturated else ("met" if worst <= LIMIT else "NOT met")
    section.verdicts.append((f"mixed load: logins keep other p99 within {LIMIT:g}× of the p99 without logins",
                             f"worst class {worst:.2f}× at {rate:g} req/s", verdict))
    return section
