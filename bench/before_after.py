"""Before/after the profile-driven changes to the hot read path, measured side by side.

The app as it was before those changes (``BENCH_BEFORE``, default: the parent of the first
of them) is extracted from git into a temporary directory and served by uvicorn from there,
next to the current app and the bare endpoint, on the same datastores (the schema did not
change in between). wrk as in ``bench.reads``; in-process CPU as in ``bench.asgi_cpu``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

from bench import api, asgi_cpu, wrk
from bench.context import Context
from bench.report import Section, Table
from bench.services import ADMIN_EMAIL, ROOT, Workdir
from bench.stats import Spread, ratios

HEADING = "Before and after the hot-path changes"
# The first change the profile led to: product reads open a database session only on a miss.
FIRST_CHANGE = "fec38a2"
HOT_PATH = ["app/main.py", "app/api/router.py", "app/api/products.py", "app/services/products.py",
            "app/services/cache.py", "app/middleware", "app/core/logging.py", "app/core/metrics.py",
            "app/schemas/products.py", "app/core/config.py"]
CONNECTIONS = 32


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def _extract(commit: str, into) -> None:
    archive = subprocess.run(["git", "archive", commit, "app", "migrations", "alembic.ini"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def run(ctx: Context) -> Section:
    before = os.environ.get("BENCH_BEFORE") or _git("rev-parse", "--short", f"{FIRST_CHANGE}^").strip()
    now = _git("rev-parse", "--short", "HEAD").strip()
    changes = _git("log", "--format=%h %s", f"{before}..HEAD", "--", *HOT_PATH).strip().splitlines()
    seconds = 3 if ctx.quick else ctx.seconds
    with Workdir("before-after") as work:
        old_tree = work.path / "before"
        old_tree.mkdir()
        _extract(before, old_tree)
        ds = work.datastores()
        env = {**ds.env, "PYTHONPATH": f"{old_tree}{os.pathsep}{ds.env['PYTHONPATH']}"}
        current = work.server("bench.apps:storefront_app", ds.env, "now")
        old = work.server("bench.apps:storefront_app", env, "before", cwd=old_tree)
        with api.client(current.url) as http:
            admin = api.login(http, ADMIN_EMAIL, ds.admin_password)["access_token"]
            for i in range(20):
                api.create_product(http, admin, f"Bench product {i:02d}", stock=100)
            token = api.login(http, api.register(http), api.PASSWORD)["access_token"]
            page = http.get("/products", headers=api.bearer(token))
            page.raise_for_status()
        payload = work.path / "products.json"
        payload.write_text(json.dumps(page.json()))
        bare_env = {**ds.env, "BENCH_BARE_PAYLOAD_FILE": str(payload)}
        bare = work.server("bench.apps:bare_app", bare_env, "bare")
        headers = api.bearer(token)
        variants = [("bare FastAPI endpoint, same body", bare, None, bare_env, "bench.apps:bare_app"),
                    (f"GET /products, authenticated, app at {before} (before)", old, str(old_tree), ds.env,
                     "bench.apps:storefront_app"),
                    (f"GET /products, authenticated, app at {now} (after)", current, None, ds.env,
                     "bench.apps:storefront_app")]
        for _label, server, *_ in variants:
            wrk.run(server.url + "/products", seconds=2, connections=CONNECTIONS, headers=headers)
        runs: dict[str, list] = {v[0]: [] for v in variants}
        cpu: dict[str, list[float]] = {v[0]: [] for v in variants}
        for r in range(ctx.repeats):
            for label, server, cwd, venv, factory in variants[r % 3:] + variants[:r % 3]:
                runs[label].append(wrk.run(server.url + "/products", seconds=seconds, connections=CONNECTIONS,
                                           headers=headers))
                cpu[label].append(asgi_cpu.measure(venv, factory=factory, token=token, cwd=cwd,
                                                   requests=500 if ctx.quick else 2000)["cpu_us"])
            ctx.log(f"before-after: repeat {r + 1}/{ctx.repeats} done")

    section = Section("before-after", HEADING, ctx.command("before-after"))
    bare_rps = [r.rps for r in runs[variants[0][0]]]
    t = Table(f"1 uvicorn worker, wrk {CONNECTIONS} connections, {ctx.repeats} × {seconds:g} s runs; "
              "median (min–max)", ["endpoint", "req/s", "vs bare", "p50 ms", "p99 ms", "in-process CPU µs/request"])
    for label, *_ in variants:
        rs = runs[label]
        t.add(label, Spread.of(r.rps for r in rs).format(), ratios([r.rps for r in rs], bare_rps).percent(),
              Spread.of(r.p50_ms for r in rs).format("{:.1f}"), Spread.of(r.p99_ms for r in rs).format("{:.1f}"),
              Spread.of(cpu[label]).format())
    section.tables.append(t)
    section.note(f"Changes to the hot path between {before} and {now}: " + "; ".join(f"`{c}`" for c in changes) + ".")
    return section
