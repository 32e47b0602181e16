"""Authenticated reads: GET /products with a valid access token through the full middleware
stack, against a bare FastAPI endpoint serving the same body on the same uvicorn setup.

Method: one uvicorn worker per server (the same flags for all, see ``bench.services.Server``);
wrk with one thread and 32 connections on loopback. Runs are interleaved (bare, app, variants,
then again, each round starting at another variant) so drift on the shared machine hits every
variant alike. With one saturated
worker, 1/throughput is the server's time per request, so a layer's cost is
``1/rps(full) − 1/rps(full without that layer)``, attributed by starting app variants with
that one middleware removed (``BENCH_DROP_MIDDLEWARE``).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from bench import api, asgi_cpu, wrk
from bench.context import Context
from bench.report import Section, Table
from bench.services import ADMIN_EMAIL, PY, ROOT, Server, Workdir
from bench.stats import Spread, ratios

HEADING = "Authenticated reads vs a bare FastAPI endpoint"
TARGET = 0.5
CONNECTIONS = 32
PRODUCTS = 20


@dataclass(frozen=True)
class Variant:
    label: str
    server: Server
    path: str
    auth: bool  # send the access token
    removed: str | None = None  # what this variant lacks compared with the full stack


def _app_middleware(env: dict[str, str]) -> list[str]:
    out = subprocess.run([PY, "-m", "bench.apps"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"could not list the app's middleware: {out.stderr[-1500:]}")
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def run(ctx: Context) -> Section:
    seconds = 3 if ctx.quick else ctx.seconds
    with Workdir("reads") as work:
        ds = work.datastores()
        app = work.server("bench.apps:storefront_app", ds.env, "app")
        with api.client(app.url) as http:
            admin = api.login(http, ADMIN_EMAIL, ds.admin_password)["access_token"]
            for i in range(PRODUCTS):
                api.create_product(http, admin, f"Bench product {i:02d}", stock=100)
            customer = api.register(http)
            token = api.login(http, customer, api.PASSWORD)["access_token"]
            page = http.get("/products", headers=api.bearer(token))
            page.raise_for_status()
        payload = work.path / "products.json"
        payload.write_text(json.dumps(page.json()))
        headers = api.bearer(token)

        bare = work.server("bench.apps:bare_app", {**ds.env, "BENCH_BARE_PAYLOAD_FILE": str(payload)}, "bare")
        variants = [Variant("bare FastAPI endpoint, same body", bare, "/products", False),
                    Variant("GET /products, authenticated, full stack", app, "/products", True),
                    Variant("GET /products, anonymous, full stack", app, "/products", False, "(the token)"),
                    Variant("GET /users/me, token verified, full stack", app, "/users/me", True)]
        middleware = _app_middleware(ds.env)
        ctx.log(f"reads: middleware outermost first: {', '.join(middleware)}")
        for name in middleware:
            server = work.server("bench.apps:storefront_app", ds.env, f"app-without-{name}", BENCH_DROP_MIDDLEWARE=name)
            variants.append(Variant(f"full stack without {name}", server, "/products", True, name))
        if middleware:
            server = work.server("bench.apps:storefront_app", ds.env, "app-without-middleware",
                                 BENCH_DROP_MIDDLEWARE=",".join(middleware))
            variants.append(Variant("no middleware at all (route only)", server, "/products", True, "(all middleware)"))

        for v in variants:  # warm caches and connection pools alike
            wrk.run(v.server.url + v.path, seconds=2, connections=CONNECTIONS, headers=headers if v.auth else None)
        results: dict[str, list[wrk.WrkResult]] = {v.label: [] for v in variants}
        for r in range(ctx.repeats):
            shift = r * len(variants) // ctx.repeats  # each round starts elsewhere: no variant always runs first
            for v in variants[shift:] + variants[:shift]:
                res = wrk.run(v.server.url + v.path, seconds=seconds, connections=CONNECTIONS,
                              headers=headers if v.auth else None)
                results[v.label].append(res)
            ctx.log(f"reads: repeat {r + 1}/{ctx.repeats} done")

        cpu: dict[str, list[float]] = {v.label: [] for v in variants}
        bare_env = {**ds.env, "BENCH_BARE_PAYLOAD_FILE": str(payload)}
        for r in range(ctx.repeats):
            shift = r * len(variants) // ctx.repeats
            for v in variants[shift:] + variants[:shift]:
                is_bare = v is variants[0]
                drop = "" if is_bare or v.removed is None or v.removed.startswith("(the") else (
                    ",".join(middleware) if v.removed == "(all middleware)" else v.removed)
                res = asgi_cpu.measure(bare_env if is_bare else ds.env,
                                       factory="bench.apps:bare_app" if is_bare else "bench.apps:storefront_app",
                                       path=v.path, token=token if v.auth else None, drop=drop,
                                       requests=500 if ctx.quick else 2000)
                cpu[v.label].append(res["cpu_us"])
            ctx.log(f"reads: in-process CPU repeat {r + 1}/{ctx.repeats} done")

    return _section(ctx, variants, results, cpu, middleware)


def _section(ctx: Context, variants: list[Variant], results: dict[str, list[wrk.WrkResult]],
             cpu: dict[str, list[float]], middleware: list[str]) -> Section:
    bare, full = variants[0], variants[1]
    bare_rps = [r.rps for r in results[bare.label]]
    full_rps = [r.rps for r in results[full.label]]
    section = Section("reads", HEADING, ctx.command("reads"))

    main = Table(f"Throughput and latency (1 uvicorn worker, wrk {CONNECTIONS} connections, "
                 f"{ctx.repeats} × {3 if ctx.quick else ctx.seconds:g} s runs; median (min–max))",
                 ["endpoint", "req/s", "vs bare", "p50 ms", "p95 ms", "p99 ms", "errors"])
    for v in variants[:4]:
        runs = results[v.label]
        main.add(v.label, Spread.of(r.rps for r in runs).format(),
                 ratios([r.rps for r in runs], bare_rps).percent(),
                 Spread.of(r.p50_ms for r in runs).format("{:.1f}"), Spread.of(r.p95_ms for r in runs).format("{:.1f}"),
                 Spread.of(r.p99_ms for r in runs).format("{:.1f}"), sum(r.errors for r in runs))
    section.tables.append(main)

    costs = Table("Where the time goes: one saturated worker spends 1/throughput per request; a part's cost is the "
                  "full stack's time per request minus that of the variant without it",
                  ["variant", "req/s", "vs full", "µs/request", "cost of the removed part, µs", "share of full"])
    full_us = Spread.of(1e6 / r for r in full_rps).median
    for v in [full, *(v for v in variants if v.removed)]:
        runs = [r.rps for r in results[v.label]]
        per_request = Spread.of(1e6 / r for r in runs).median
        cost = full_us - per_request if v.removed else None
        costs.add(v.label, Spread.of(runs).format(), ratios(runs, full_rps).percent(), f"{per_request:.0f}",
                  "" if cost is None else f"{cost:.0f}", "" if cost is None else f"{cost / full_us:.0%}")
    bare_us = Spread.of(1e6 / r for r in bare_rps).median
    costs.add(bare.label, Spread.of(bare_rps).format(), ratios(bare_rps, full_rps).percent(), f"{bare_us:.0f}",
              f"{full_us - bare_us:.0f} (all the platform's work)", f"{(full_us - bare_us) / full_us:.0%}")
    section.tables.append(costs)

    layers = Table("In-process CPU per request: the ASGI app called directly (no sockets, no HTTP parsing), "
                   "process CPU time, so waits on Redis/PostgreSQL and other processes' load are not counted",
                   ["variant", "CPU µs/request", "cost of the removed part, µs", "share of full"])
    full_cpu = Spread.of(cpu[full.label]).median
    for v in variants:
        spread = Spread.of(cpu[v.label])
        removed = v.removed is not None
        layers.add(v.label, spread.format(), f"{full_cpu - spread.median:.0f}" if removed else "",
                   f"{(full_cpu - spread.median) / full_cpu:.0%}" if removed else "")
    section.tables.append(layers)

    ratio = ratios(full_rps, bare_rps)
    verdict = "met" if ratio.median >= TARGET else "NOT met"
    section.verdicts.append((f"authenticated GET /products ≥ {TARGET:.0%} of a bare endpoint",
                             f"{ratio.median:.0%} ({ratio.low:.0%}–{ratio.high:.0%}); p99 "
                             f"{Spread.of(r.p99_ms for r in results[full.label]).median:.1f} ms", verdict))
    section.note(f"Target ≥ {TARGET:.0%} of the bare endpoint: {verdict} (median {ratio.median:.0%}, "
                 f"range {ratio.low:.0%}–{ratio.high:.0%}).")
    section.note(f"Middleware, outermost first: {', '.join(middleware) or 'none'}. Single-layer costs need not add "
                 "up to the all-removed variant: layers share work and run-to-run noise is a few percent.")
    section.note("GET /products is public: its route does not verify the token (the rate limiter only reads its "
                 "subject to count per user). GET /users/me shows a read whose token is verified (signature, claims, "
                 "session state).")
    section.note("Errors are socket errors, timeouts and non-2xx answers counted by wrk; rate limits are raised out of "
                 "reach so the limiter does its Redis round trip on every request without answering 429.")
    return section
