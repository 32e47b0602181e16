"""Order placement under contention: 200 concurrent orders for one product with stock 50
(exactly 50 must succeed and the stock must end at 0), against the same 200 orders spread
over 200 products (no contention) as the baseline.

Method: 20 customers, 200 POST /orders fired at once from the Python load generator in its
own process (200 connections), one uvicorn worker. The outcome is checked through the API
and directly in PostgreSQL.
"""

from __future__ import annotations

from bench import api, loadgen
from bench.context import Context
from bench.report import Section, Table
from bench.services import ADMIN_EMAIL, Workdir
from bench.stats import Spread, latency_summary, ratios

HEADING = "Order placement under contention"
ORDERS = 200
STOCK = 50
CUSTOMERS = 20


class Outcome:
    def __init__(self, result: dict, wall: float):
        self.created = result["statuses"].get("201", 0)
        self.refused = result["statuses"].get("409", 0)
        self.other = sum(result["statuses"].values()) - self.created - self.refused + sum(result["errors"].values())
        self.rps = ORDERS / wall
        self.latency = latency_summary(result["latencies_ms"])
        self.failures = result["failures"]


def _fire(base_url: str, requests: list[dict]) -> Outcome:
    result = loadgen.run({"base_url": base_url, "scenario": "burst", "requests": requests, "concurrency": ORDERS,
                          "connections": ORDERS, "timeout_seconds": 30}, timeout=120)
    return Outcome(result, result["wall_seconds"])


def run(ctx: Context) -> Section:
    contended: list[Outcome] = []
    spread: list[Outcome] = []
    checks: list[tuple[int, int, int]] = []  # (stock via API, stock in PostgreSQL, units sold in PostgreSQL)
    with Workdir("orders") as work:
        ds = work.datastores()
        app = work.server("bench.apps:storefront_app", ds.env, "app")
        with api.client(app.url) as http:
            admin = api.login(http, ADMIN_EMAIL, ds.admin_password)["access_token"]
            tokens = [api.login(http, api.register(http, f"{i}-"), api.PASSWORD)["access_token"] for i in range(CUSTOMERS)]

            def order(product_id: str, i: int) -> dict:
                return {"method": "POST", "path": "/orders", "headers": api.bearer(tokens[i % CUSTOMERS]),
                        "json": {"items": [{"product_id": product_id, "quantity": 1}]}}

            for r in range(ctx.repeats):
                hot = api.create_product(http, admin, f"Contended product {r}", stock=STOCK)
                contended.append(_fire(app.url, [order(hot, i) for i in range(ORDERS)]))
                sold = ds.pg.psql(f"SELECT coalesce(sum(quantity), 0) FROM order_items WHERE product_id = '{hot}'",
                                  "storefront")
                stock_db = ds.pg.psql(f"SELECT stock FROM products WHERE id = '{hot}'", "storefront")
                checks.append((api.product_stock(http, hot), int(stock_db), int(sold)))

                many = [api.create_product(http, admin, f"Quiet product {r}-{i}", stock=STOCK) for i in range(ORDERS)]
                spread.append(_fire(app.url, [order(pid, i) for i, pid in enumerate(many)]))
                ctx.log(f"orders: repeat {r + 1}/{ctx.repeats}: contended {contended[-1].created} created, "
                        f"{contended[-1].refused} refused, {contended[-1].rps:.0f}/s; spread {spread[-1].rps:.0f}/s")
                for failure in (contended[-1].failures + spread[-1].failures)[:3]:
                    ctx.log(f"orders: unexpected answer: {failure}")
    return _section(ctx, contended, spread, checks)


def _section(ctx: Context, contended: list[Outcome], spread: list[Outcome],
             checks: list[tuple[int, int, int]]) -> Section:
    section = Section("orders", HEADING, ctx.command("orders"))
    spread_rps = [o.rps for o in spread]
    table = Table(f"{ORDERS} concurrent POST /orders, 1 uvicorn worker, {ctx.repeats} runs; median (min–max)",
                  ["case", "orders/s", "vs no contention", "201", "409", "other", "p50 ms", "p95 ms", "p99 ms"])
    for label, outcomes in ((f"1 product, stock {STOCK}", contended), (f"{ORDERS} products, stock {STOCK} each", spread)):
        rps = [o.rps for o in outcomes]
        table.add(label, Spread.of(rps).format(), ratios(rps, spread_rps).percent(),
                  "/".join(str(o.created) for o in outcomes), "/".join(str(o.refused) for o in outcomes),
                  "/".join(str(o.other) for o in outcomes),
                  Spread.of(o.latency["p50"] for o in outcomes).format(),
                  Spread.of(o.latency["p95"] for o in outcomes).format(),
                  Spread.of(o.latency["p99"] for o in outcomes).format())
    section.tables.append(table)
    exact = all(o.created == STOCK and o.refused == ORDERS - STOCK and o.other == 0 for o in contended)
    stock_zero = all(api_stock == 0 and db_stock == 0 and sold == STOCK for api_stock, db_stock, sold in checks)
    section.verdicts.append((f"{ORDERS} concurrent orders for stock {STOCK}: exactly {STOCK} succeed, stock 0",
                             f"{'/'.join(str(o.created) for o in contended)} succeeded, final stock "
                             f"{'/'.join(str(d) for _a, d, _s in checks)}; "
                             f"{Spread.of(o.rps for o in contended).median:.0f} orders/s",
                             "met" if exact and stock_zero else "NOT met"))
    section.note(f"Exactly {STOCK} of {ORDERS} succeed in every run: {'yes' if exact else 'NO'} "
                 f"(201/409/other per run listed above).")
    section.note(f"Stock after each run (API, PostgreSQL) and units sold in PostgreSQL: "
                 f"{', '.join(f'{a}/{d}/{s}' for a, d, s in checks)}; stock 0 and never negative: "
                 f"{'yes' if stock_zero else 'NO'} (a CHECK constraint forbids a negative stock).")
    section.note("Throughput is orders answered per second of the burst's wall time (the 409s are answers too); "
                 "uncontended orders all succeed.")
    return section
