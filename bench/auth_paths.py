"""Token-verified requests: ``GET /users/me``, ``GET /orders/{id}``, ``GET /orders`` (a page of
20) and ``POST /orders``, against the bare endpoint of ``bench.reads`` and against the app as it
was before the authenticated path was reworked (``BENCH_AUTH_BEFORE``, default the commit before
that work), all in the same run on the same datastores.

Method: as ``bench.reads`` (one uvicorn worker per server, wrk with 32 connections and a valid
bearer token, rounds interleaved with each round starting elsewhere, ratios taken round by
round), plus the in-process CPU per request of ``bench.asgi_cpu`` for each route, ``POST /orders``
included (one new order per request, one line, uncontended: every request orders another of 20
products with ample stock).
"""

from __future__ import annotations

import json
import os

from bench import api, asgi_cpu, wrk
from bench.before_after import _extract
from bench.context import Context
from bench.report import Section, Table
from bench.services import ADMIN_EMAIL, Workdir
from bench.stats import Spread, ratios

HEADING = "Token-verified requests vs the bare endpoint"
BEFORE = "0d045bf"  # the app before the authenticated path was reworked
CONNECTIONS = 32
ORDERS = 20
TARGETS = {"GET /users/me": 0.25, "GET /orders/{id}": 0.20, "GET /orders (page of 20)": 0.10}


def run(ctx: Context) -> Section:
    before = os.environ.get("BENCH_AUTH_BEFORE", BEFORE)
    seconds = 3 if ctx.quick else ctx.seconds
    with Workdir("auth-paths") as work:
        old_tree = work.path / "before"
        old_tree.mkdir()
        _extract(before, old_tree)
        ds = work.datastores()
        old_env = {**ds.env, "PYTHONPATH": f"{old_tree}{os.pathsep}{ds.env['PYTHONPATH']}"}
        now = work.server("bench.apps:storefront_app", ds.env, "now")
        with api.client(now.url) as http:
            admin = api.login(http, ADMIN_EMAIL, ds.admin_password)["access_token"]
            products = [api.create_product(http, admin, f"Bench product {i:02d}", stock=1_000_000)
                        for i in range(ORDERS)]
            customer = api.register(http)
            token = api.login(http, customer, api.PASSWORD)["access_token"]
            headers = api.bearer(token)
            for product in products:
                r = http.post("/orders", headers=headers, json={"items": [{"product_id": product, "quantity": 1}]})
                r.raise_for_status()
            order_id = r.json()["id"]
            page = http.get("/products", headers=headers)
            page.raise_for_status()
        payload = work.path / "products.json"
        payload.write_text(json.dumps(page.json()))
        bare_env = {**ds.env, "BENCH_BARE_PAYLOAD_FILE": str(payload)}
        bare = work.server("bench.apps:bare_app", bare_env, "bare")
        old = work.server("bench.apps:storefront_app", old_env, "before", cwd=old_tree)
        routes = {"GET /users/me": "/users/me", "GET /orders/{id}": f"/orders/{order_id}",
                  "GET /orders (page of 20)": f"/orders?limit={ORDERS}"}
        runs = [("bare", bare, "/products", None)]
        for label, path in routes.items():
            runs += [(f"{label}, before", old, path, headers), (f"{label}, now", now, path, headers)]
        for _, server, path, h in runs:  # warm caches and pools alike
            wrk.run(server.url + path, seconds=2, connections=CONNECTIONS, headers=h)
        results: dict[str, list[wrk.WrkResult]] = {label: [] for label, *_ in runs}
        for r in range(ctx.repeats):
            shift = r * len(runs) // ctx.repeats
            for label, server, path, h in runs[shift:] + runs[:shift]:
                results[label].append(wrk.run(server.url + path, seconds=seconds, connections=CONNECTIONS, headers=h))
            ctx.log(f"auth-paths: repeat {r + 1}/{ctx.repeats} done")
        old.stop()
        bare.stop()

        cpu: dict[str, list[float]] = {}
        wall: dict[str, list[float]] = {}
        cases = [("bare", bare_env, "bench.apps:bare_app", "/products", "GET", "", None, None)]
        order_body = json.dumps({"items": [{"product_id": products[0], "quantity": 1}]})
        for label, path in [*routes.items(), ("POST /orders", "/orders")]:
            method, body = ("POST", order_body) if label.startswith("POST") else ("GET", "")
            cases += [(f"{label}, before", old_env, "bench.apps:storefront_app", path, method, body, token, old_tree),
                      (f"{label}, now", ds.env, "bench.apps:storefront_app", path, method, body, token, None)]
        for r in range(ctx.repeats):
            shift = r * len(cases) // ctx.repeats
            for label, env, factory, path, method, body, tok, cwd in cases[shift:] + cases[:shift]:
                if tok:  # a fresh token for each case: on a loaded machine the phase outlasts one (15 min)
                    with api.client(now.url) as http:
                        tok = api.login(http, customer, api.PASSWORD)["access_token"]
                res = asgi_cpu.measure(env, factory=factory, path=path, token=tok, method=method, body=body,
                                       requests=300 if ctx.quick else 1000, cwd=cwd)
                bad = {s: n for s, n in res["statuses"].items() if not 200 <= int(s) < 300}
                if bad:
                    raise RuntimeError(f"{label}: non-2xx answers in the in-process run: {bad}")
                cpu.setdefault(label, []).append(res["cpu_us"])
                wall.setdefault(label, []).append(res["wall_us"])
            ctx.log(f"auth-paths: in-process repeat {r + 1}/{ctx.repeats} done")
        now.stop()
    return _section(ctx, before, list(routes), results, cpu, wall)


def _section(ctx: Context, before: str, routes: list[str], results: dict[str, list[wrk.WrkResult]],
             cpu: dict[str, list[float]], wall: dict[str, list[float]]) -> Section:
    section = Section("auth-paths", HEADING, ctx.command("auth-paths"))
    bare_rps = [r.rps for r in results["bare"]]
    main = Table(f"Throughput and latency (1 uvicorn worker, wrk {CONNECTIONS} connections with a valid bearer "
                 f"token, {ctx.repeats} × {3 if ctx.quick else ctx.seconds:g} s runs; median (min–max); "
                 f"before = the app at {before})",
                 ["endpoint", "req/s", "vs bare", "vs before", "p50 ms", "p99 ms", "errors"])
    main.add("bare FastAPI endpoint (GET /products body)", Spread.of(bare_rps).format(), "100%", "",
             Spread.of(r.p50_ms for r in results["bare"]).format("{:.1f}"),
             Spread.of(r.p99_ms for r in results["bare"]).format("{:.1f}"), sum(r.errors for r in results["bare"]))
    for route in routes:
        for when in ("before", "now"):
            runs = results[f"{route}, {when}"]
            rps = [r.rps for r in runs]
            main.add(f"{route}, {when}", Spread.of(rps).format(), ratios(rps, bare_rps).percent(),
                     ratios(rps, [r.rps for r in results[f"{route}, before"]]).percent() if when == "now" else "",
                     Spread.of(r.p50_ms for r in runs).format("{:.1f}"),
                     Spread.of(r.p99_ms for r in runs).format("{:.1f}"), sum(r.errors for r in runs))
    section.tables.append(main)

    inproc = Table("In-process CPU and wall time per request (ASGI app called directly, one request at a time; "
                   "CPU of the app's process only; median (min–max))",
                   ["request", "CPU µs, before", "CPU µs, now", "now / before", "wall µs, now", "CPU vs bare"])
    bare_cpu = Spread.of(cpu["bare"]).median
    for route in [*routes, "POST /orders"]:
        b, n = cpu[f"{route}, before"], cpu[f"{route}, now"]
        inproc.add(route, Spread.of(b).format(), Spread.of(n).format(), ratios(n, b).percent(),
                   Spread.of(wall[f"{route}, now"]).format(), f"{Spread.of(n).median / bare_cpu:.1f}×")
    inproc.add("bare FastAPI endpoint", Spread.of(cpu["bare"]).format(), "", "", Spread.of(wall["bare"]).format(), "1×")
    section.tables.append(inproc)

    for route, target in TARGETS.items():
        ratio = ratios([r.rps for r in results[f"{route}, now"]], bare_rps)
        verdict = "met" if ratio.median >= target else "NOT met"
        section.verdicts.append((f"token-verified {route} ≥ {target:.0%} of a bare endpoint",
                                 f"{ratio.median:.0%} ({ratio.low:.0%}–{ratio.high:.0%}); p99 "
                                 f"{Spread.of(r.p99_ms for r in results[f'{route}, now']).median:.1f} ms", verdict))
    post = ratios(cpu["POST /orders, now"], cpu["POST /orders, before"])
    section.verdicts.append(("POST /orders: CPU per order halved",
                             f"{Spread.of(cpu['POST /orders, now']).median:.0f} µs, {post.median:.0%} of before "
                             f"({Spread.of(cpu['POST /orders, before']).median:.0f} µs)",
                             "met" if post.median <= 0.5 else "NOT met"))
    section.note("One token is used throughout, as one busy client would: the token is verified once per process and "
                 "remembered, the session state is still read from Redis on every request.")
    section.note("Errors are socket errors, timeouts and non-2xx answers counted by wrk.")
    return section
