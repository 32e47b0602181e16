"""What OpenTelemetry tracing costs on the hot path: tracing off, on at 1% sampling and on at
100%, side by side in the same run, for an authenticated read and for order placement.

Method: three uvicorn servers of the same app on the same datastores, differing only in
``STOREFRONT_OTLP_ENDPOINT`` / ``STOREFRONT_TRACE_SAMPLING_RATIO``; the traced ones export
over OTLP/HTTP to a loopback sink in this process that counts the export calls without
decoding them. The read is ``GET /users/me`` with a valid token (signature, claims and the
cached session state: Redis round trips and, on a miss, SQL), under wrk; the orders are
``POST /orders`` spread over products with ample stock (no contention), from the Python load
generator. Runs interleave (each round starts at another variant); ratios are run by run
against tracing off. In-process CPU per read as in ``bench.asgi_cpu``.
"""

from __future__ import annotations

from bench import api, asgi_cpu, loadgen, wrk
from bench.context import Context
from bench.report import Section, Table
from bench.services import ADMIN_EMAIL, Workdir
from bench.stats import Spread, latency_summary, ratios
from storefront_harness.otlp import OtlpReceiver

HEADING = "Tracing cost: off, 1% and 100% sampling"
CONNECTIONS = 32
ORDER_CONCURRENCY = 16
PRODUCTS = 20
CUSTOMERS = 20


def run(ctx: Context) -> Section:
    seconds = 3 if ctx.quick else ctx.seconds
    with Workdir("tracing") as work, OtlpReceiver(decode=False) as sink:
        # Tokens outlive the whole run, however slow the shared machine makes it.
        ds = work.datastores(**{"STOREFRONT_ACCESS_TOKEN_TTL_SECONDS": "14400"})
        traced = {"STOREFRONT_OTLP_ENDPOINT": sink.endpoint}
        variants = [
            ("tracing off", ds.env),
            ("tracing on, 1% sampled", {**ds.env, **traced, "STOREFRONT_TRACE_SAMPLING_RATIO": "0.01"}),
            ("tracing on, 100% sampled", {**ds.env, **traced, "STOREFRONT_TRACE_SAMPLING_RATIO": "1.0"}),
        ]
        servers = {label: work.server("bench.apps:storefront_app", env, f"app-{i}") for i, (label, env)
                   in enumerate(variants)}
        first = next(iter(servers.values()))
        with api.client(first.url) as http:
            admin = api.login(http, ADMIN_EMAIL, ds.admin_password)["access_token"]
            products = [api.create_product(http, admin, f"Traced product {i:02d}", stock=10_000_000)
                        for i in range(PRODUCTS)]
            tokens = [api.login(http, api.register(http, f"t{i}-"), api.PASSWORD)["access_token"]
                      for i in range(CUSTOMERS)]
        read_headers = api.bearer(tokens[0])
        orders = [{"method": "POST", "path": "/orders", "headers": api.bearer(tokens[i % CUSTOMERS]),
                   "json": {"items": [{"product_id": products[i % PRODUCTS], "quantity": 1}]}}
                  for i in range(PRODUCTS * 2)]

        for server in servers.values():  # warm caches and connection pools alike
            wrk.run(server.url + "/users/me", seconds=2, connections=CONNECTIONS, headers=read_headers)
        reads: dict[str, list[wrk.WrkResult]] = {label: [] for label, _ in variants}
        placed: dict[str, list[dict]] = {label: [] for label, _ in variants}
        cpu: dict[str, list[float]] = {label: [] for label, _ in variants}
        labels = [label for label, _ in variants]
        for r in range(ctx.repeats):
            for label in labels[r % 3:] + labels[:r % 3]:
                url = servers[label].url
                reads[label].append(wrk.run(url + "/users/me", seconds=seconds, connections=CONNECTIONS,
                                            headers=read_headers))
                placed[label].append(loadgen.run({
                    "base_url": url, "scenario": "repeat", "requests": orders, "cycle": True,
                    "concurrency": ORDER_CONCURRENCY, "connections": ORDER_CONCURRENCY, "seconds": seconds,
                    "ok": [201], "timeout_seconds": 30}))
                cpu[label].append(asgi_cpu.measure(dict(variants[labels.index(label)][1]), path="/users/me",
                                                   token=tokens[0], requests=200 if ctx.quick else 500)["cpu_us"])
            ctx.log(f"tracing: repeat {r + 1}/{ctx.repeats} done; sink got {sink.requests} exports, "
                    f"{sink.bytes / 1e6:.1f} MB")
        exports, exported_bytes = sink.requests, sink.bytes
    return _section(ctx, labels, reads, placed, cpu, seconds, exports, exported_bytes)


def _orders_per_second(result: dict) -> float:
    return result["statuses"].get("201", 0) / result["wall_seconds"]


def _section(ctx: Context, labels: list[str], reads: dict, placed: dict, cpu: dict, seconds: float,
             exports: int, exported_bytes: int) -> Section:
    section = Section("tracing", HEADING, ctx.command("tracing"))
    off = labels[0]
    off_rps = [r.rps for r in reads[off]]
    t = Table(f"GET /users/me (token verified), 1 uvicorn worker, wrk {CONNECTIONS} connections, "
              f"{ctx.repeats} × {seconds:g} s runs; median (min–max)",
              ["variant", "req/s", "vs off", "p50 ms", "p99 ms", "errors", "in-process CPU µs/request"])
    for label in labels:
        runs = reads[label]
        t.add(label, Spread.of(r.rps for r in runs).format(), ratios([r.rps for r in runs], off_rps).percent(),
              Spread.of(r.p50_ms for r in runs).format("{:.1f}"), Spread.of(r.p99_ms for r in runs).format("{:.1f}"),
              sum(r.errors for r in runs), Spread.of(cpu[label]).format())
    section.tables.append(t)

    off_orders = [_orders_per_second(r) for r in placed[off]]
    o = Table(f"POST /orders (no contention), {ORDER_CONCURRENCY} concurrent clients, {ctx.repeats} × {seconds:g} s "
              "runs; median (min–max)", ["variant", "orders/s", "vs off", "p50 ms", "p99 ms", "not 201"])
    for label in labels:
        runs = placed[label]
        rates = [_orders_per_second(r) for r in runs]
        lat = [latency_summary(r["latencies_ms"]) for r in runs]
        bad = sum(sum(r["statuses"].values()) - r["statuses"].get("201", 0) + sum(r["errors"].values()) for r in runs)
        o.add(label, Spread.of(rates).format(), ratios(rates, off_orders).percent(),
              Spread.of(x["p50"] for x in lat).format("{:.1f}"), Spread.of(x["p99"] for x in lat).format("{:.1f}"), bad)
    section.tables.append(o)
    full = labels[2]
    read_ratio = ratios([r.rps for r in reads[full]], off_rps)
    order_ratio = ratios([_orders_per_second(r) for r in placed[full]], off_orders)
    section.note(f"At 100% sampling the read keeps {read_ratio.median:.0%} and order placement "
                 f"{order_ratio.median:.0%} of their throughput with tracing off (medians of run-by-run ratios).")
    section.note(f"The OTLP sink received {exports} export calls ({exported_bytes / 1e6:.1f} MB of protobuf) over "
                 "the whole run; spans leave in batches from a background thread, never on a request's path.")
    section.note("Off, nothing is installed (no middleware, no SQLAlchemy or Redis hooks): the off row is the app "
                 "as it runs without an OTLP endpoint.")
    return section
