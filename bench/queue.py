"""The queue: events through outbox → Redis stream → worker → a loopback webhook receiver, and
what the outbox costs order placement.

Method: PostgreSQL, Redis, the API under uvicorn and one worker (``python -m app.worker``), all
processes on this machine. (1) Order placement: the same burst of ORDERS concurrent POST
/orders (one product each, no stock contention) against the app as shipped and against the
same app with the outbox insert removed (``BENCH_NO_OUTBOX=1``, ``bench.apps``), interleaved,
``--repeats`` times. (2) Throughput and latency: with a webhook registered for
``order.placed``, a burst of EVENTS orders; events/s is EVENTS over the time from the first
order sent to the last signed delivery received, and the end-to-end latency of each event runs
from its outbox insert (the order's transaction; ``created_at`` in the body) to its arrival at
the receiver.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import api, loadgen
from bench.context import Context
from bench.report import Section, Table
from bench.services import ADMIN_EMAIL, PY, ROOT, Workdir
from bench.stats import Spread, latency_summary, ratios
from storefront_harness.process import free_port, port_open, spawn, stop

HEADING = "Queue: outbox → stream → worker → webhook"
ORDERS = 200
EVENTS = 400
QUEUE_ENV = {
    "STOREFRONT_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "STOREFRONT_WEBHOOK_ALLOW_HTTP": "true",
    "STOREFRONT_WEBHOOK_CONCURRENCY": "32",
}


class _Receiver:
    """Accepts every delivery and notes when each event id first arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, tuple[float, float]] = {}  # event id -> (arrival, outbox created_at)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                with receiver.lock:
                    receiver.arrivals.setdefault(body["id"], (now, datetime.fromisoformat(body["created_at"]).timestamp()))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _burst(base_url: str, requests: list[dict]) -> tuple[float, int]:
    """Orders created per second of the burst's wall time, and how many were created."""
    result = loadgen.run({"base_url": base_url, "scenario": "burst", "requests": requests, "concurrency": 20,
                          "connections": 20, "timeout_seconds": 60}, timeout=300)
    created = result["statuses"].get("201", 0)
    return created / result["wall_seconds"], created


def run(ctx: Context) -> Section:
    orders = 50 if ctx.quick else ORDERS
    events = 100 if ctx.quick else EVENTS
    with_outbox: list[float] = []
    without: list[float] = []
    throughput: list[float] = []
    latencies: list[float] = []
    refused: list[int] = []
    receiver = _Receiver()
    with Workdir("queue") as work:
        ds = work.datastores(**QUEUE_ENV)
        app = work.server("bench.apps:storefront_app", ds.env, "app")
        baseline = work.server("bench.apps:storefront_app", ds.env, "app-no-outbox", BENCH_NO_OUTBOX="1")
        port = free_port()
        worker = spawn([PY, "-m", "app.worker", "--host", "127.0.0.1", "--port", str(port)], work.path / "worker.log",
                       env={**ds.env, "STOREFRONT_WORKER_CONSUMER_NAME": "bench"}, cwd=ROOT)
        work.stack.callback(stop, worker)
        work.stack.callback(receiver.close)
        deadline = time.monotonic() + 60
        while not port_open(port):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start: " + (work.path / "worker.log").read_text()[-2000:])
            time.sleep(0.2)
        with api.client(app.url) as http:
            admin = api.login(http, ADMIN_EMAIL, ds.admin_password)["access_token"]
            tokens = [api.login(http, api.register(http, f"q{i}-"), api.PASSWORD)["access_token"] for i in range(10)]

            def order(product: str, i: int) -> dict:
                return {"method": "POST", "path": "/orders", "headers": api.bearer(tokens[i % len(tokens)]),
                        "json": {"items": [{"product_id": product, "quantity": 1}]}}

            # The placement figures are the outbox's cost in the order's transaction: the worker is
            # paused meanwhile, since on two cores its relaying would compete for the API's CPU.
            worker.send_signal(signal.SIGSTOP)
            for r in range(ctx.repeats):
                for target, into in ((app, with_outbox), (baseline, without)):
                    products = [api.create_product(http, admin, f"q{r}-{len(into)}-{i}", stock=10) for i in range(orders)]
                    rate, created = _burst(target.url, [order(p, i) for i, p in enumerate(products)])
                    refused.append(orders - created)
                    into.append(rate)
                ctx.log(f"queue: repeat {r + 1}: {with_outbox[-1]:.0f} orders/s with the outbox, "
                        f"{without[-1]:.0f} without")

            worker.send_signal(signal.SIGCONT)
            # Drain what the placement runs queued (no webhook yet: handled without deliveries).
            _wait_drained(ds)
            r = http.post("/webhooks", json={"url": receiver.url, "events": ["order.placed"]}, headers=api.bearer(admin))
            r.raise_for_status()
            for r_ in range(ctx.repeats):
                receiver.arrivals.clear()
                products = [api.create_product(http, admin, f"e{r_}-{i}", stock=10) for i in range(events)]
                started = time.time()
                _rate, created = _burst(app.url, [order(p, i) for i, p in enumerate(products)])
                deadline = time.monotonic() + 300
                while len(receiver.arrivals) < created:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {len(receiver.arrivals)} of {created} deliveries arrived")
                    time.sleep(0.05)
                arrivals = list(receiver.arrivals.values())
                throughput.append(created / (max(a for a, _c in arrivals) - started))
                latencies.extend((a - c) * 1000 for a, c in arrivals)
                ctx.log(f"queue: repeat {r_ + 1}: {throughput[-1]:.0f} events/s end to end")
    return _section(ctx, orders, events, with_outbox, without, throughput, latencies, refused)


def _wait_drained(ds, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ds.pg.psql("SELECT count(*) FROM outbox_events WHERE handled_at IS NULL", "storefront").strip() == "0":
            return
        time.sleep(0.2)
    raise RuntimeError("the worker did not drain the outbox")


def _section(ctx: Context, orders: int, events: int, with_outbox: list[float], without: list[float],
             throughput: list[float], latencies: list[float], refused: list[int]) -> Section:
    section = Section("queue", HEADING, ctx.command("queue"))
    placement = Table(f"{orders} POST /orders, 20 at a time (no stock contention), 1 uvicorn worker, the queue worker "
                      f"paused, {ctx.repeats} interleaved runs; median (min–max)", ["app", "orders/s", "vs without the outbox"])
    placement.add("as shipped (order + outbox event in one transaction)", Spread.of(with_outbox).format(),
                  ratios(with_outbox, without).percent())
    placement.add("baseline: the outbox insert removed", Spread.of(without).format(), "100%")
    section.tables.append(placement)
    summary = latency_summary(latencies)
    flow = Table(f"{events} orders in a burst, 1 worker, a loopback receiver; {ctx.repeats} runs",
                 ["events/s (order sent → last delivery)", "end-to-end p50 ms", "p99 ms", "max ms"])
    flow.add(Spread.of(throughput).format(), f"{summary['p50']:.0f}", f"{summary['p99']:.0f}", f"{summary['max']:.0f}")
    section.tables.append(flow)
    section.note(f"Orders not created in the placement bursts (timeouts or 503 under the machine's load), per run "
                 f"(with, without the outbox, alternating): {', '.join(map(str, refused)) or 'none'}; throughput counts "
                 "created orders only.")
    section.note("End to end is from the outbox insert (in the order's transaction) to the signed POST's arrival: "
                 "the relay's poll (0.2 s when idle), XADD, XREADGROUP, the handler's transaction, the delivery "
                 "loop's claim and the request.")
    section.note("The burst's own queueing counts in the latency: events created at the start of a burst wait "
                 "behind the others, and events/s cannot exceed the rate at which the burst places orders.")
    return section


if __name__ == "__main__":
    sys.exit("run it as python -m bench queue")


