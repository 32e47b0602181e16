"""Login throughput against the raw argon2id verification rate at the configured parameters,
and refresh throughput against a bare endpoint driven by the same client.

Method: the raw rate is argon2-cffi verifying in one thread per core for the run's length
(the most this machine can verify); login load is the Python load generator in its own
process, 8 concurrent clients logging in as 8 customers, on one uvicorn worker. Runs are
interleaved raw, login, refresh, bare so each ratio pairs runs taken moments apart.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from bench import api, cpu, loadgen
from bench.argon2_rate import Argon2Params, verify_cost
from bench.context import Context
from bench.report import Section, Table
from bench.services import Workdir
from bench.stats import Spread, latency_summary, ratios

HEADING = "Login and refresh throughput vs raw argon2"
TARGET = 0.9
CONCURRENCY = 8
# asyncio.to_thread's default executor, min(32, cores + 4) threads: what logins verified in
# before the app bounded argon2 to one thread per CPU. Measured to show what that bound saves.
EXECUTOR_WIDTH = min(32, (os.cpu_count() or 1) + 4)
# The dedicated-core variant: the app alone on the last CPU, everything else on the others.
APP_CPU = (os.cpu_count() or 1) - 1
OTHER_CPUS = set(range(APP_CPU)) or {0}


def _throughput(result: dict) -> tuple[float, int, dict[str, float]]:
    ok = sum(n for status, n in result["statuses"].items() if status.startswith("2"))
    failed = sum(result["statuses"].values()) - ok + sum(result["errors"].values())
    return ok / result["wall_seconds"], failed, latency_summary(result["latencies_ms"])


def run(ctx: Context) -> Section:
    seconds = 3 if ctx.quick else ctx.seconds
    params = Argon2Params.configured()
    rows: dict[str, list] = {"raw": [], "login": [], "refresh": [], "bare": [], "cpu": [], "argon2_cpu": [],
                             "oversubscribed": [], "raw_core": [], "login_core": [], "cpu_core": []}
    dedicated = APP_CPU > 0
    with Workdir("login") as work:
        ds = work.datastores()
        app = work.server("bench.apps:storefront_app", ds.env, "app")
        app_core = work.server("bench.apps:storefront_app", ds.env, "app-core", cpus={APP_CPU}) if dedicated else None
        bare = work.server("bench.apps:bare_app", ds.env, "bare")
        with api.client(app.url) as http:
            customers = [api.register(http, f"{i}-") for i in range(CONCURRENCY)]
        logins = [{"method": "POST", "path": "/auth/login", "json": {"email": c, "password": api.PASSWORD}}
                  for c in customers]
        for r in range(ctx.repeats):
            rate, cpu_ms = verify_cost(params, seconds)
            rows["raw"].append(rate)
            rows["argon2_cpu"].append(cpu_ms)
            rows["oversubscribed"].append(verify_cost(params, seconds, EXECUTOR_WIDTH))
            before = _cpu_snapshot(ds, app)
            result = _login_load(app.url, logins, seconds)
            after = _cpu_snapshot(ds, app)
            rows["login"].append(_throughput(result))
            ok = sum(n for status, n in result["statuses"].items() if status.startswith("2"))
            rows["cpu"].append({k: (after[k] - before[k]) * 1000 / max(ok, 1) for k in after})
            refresh_tokens = _fresh_refresh_tokens(app.url, customers)
            result = loadgen.run({"base_url": app.url, "scenario": "refresh_chain", "seconds": seconds,
                                  "refresh_tokens": refresh_tokens, "connections": CONCURRENCY})
            rows["refresh"].append(_throughput(result))
            result = loadgen.run({"base_url": bare.url, "scenario": "repeat", "seconds": seconds,
                                  "concurrency": CONCURRENCY, "connections": CONCURRENCY,
                                  "request": {"method": "GET", "path": "/products"}, "ok": [200]})
            rows["bare"].append(_throughput(result))
            if app_core is not None:
                rows["raw_core"].append(verify_cost(params, seconds, 1, {APP_CPU})[0])
                with _everything_else_on(OTHER_CPUS, ds):
                    before = _cpu_snapshot(ds, app_core)
                    result = _login_load(app_core.url, logins, seconds)
                    after = _cpu_snapshot(ds, app_core)
                rows["login_core"].append(_throughput(result))
                ok = sum(n for status, n in result["statuses"].items() if status.startswith("2"))
                rows["cpu_core"].append((after["app"] - before["app"]) * 1000 / max(ok, 1))
            ctx.log(f"login: repeat {r + 1}/{ctx.repeats}: raw {rows['raw'][-1]:.1f}/s, "
                    f"login {rows['login'][-1][0]:.1f}/s, refresh {rows['refresh'][-1][0]:.0f}/s")
    return _section(ctx, params, rows, seconds)


@contextmanager
def _everything_else_on(cpus: set[int], ds):
    """The datastores and this process (so the load generator it starts) on ``cpus`` only."""
    every = set(range(os.cpu_count() or 1))
    cpu.pin_tree(ds.pg.proc.pid, cpus)
    cpu.pin(ds.redis.proc.pid, cpus)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, every)
        cpu.pin(ds.redis.proc.pid, every)
        cpu.pin_tree(ds.pg.proc.pid, every)


def _cpu_snapshot(ds, app) -> dict[str, float]:
    """CPU seconds so far of each party to a login on this machine."""
    return {"app": cpu.process_seconds(app.pid()), "postgres": cpu.tree_seconds(ds.pg.proc.pid),
            "redis": cpu.process_seconds(ds.redis.proc.pid), "client": cpu.children_seconds()}


def _login_load(base_url: str, logins: list[dict], seconds: float) -> dict:
    """``CONCURRENCY`` workers, each logging in as its own customer for ``seconds``."""
    return loadgen.run({"base_url": base_url, "scenario": "repeat", "seconds": seconds, "concurrency": CONCURRENCY,
                        "connections": CONCURRENCY, "requests": logins, "ok": [200], "timeout_seconds": 30})


def _fresh_refresh_tokens(base_url: str, customers: list[str]) -> list[str]:
    with api.client(base_url) as http:
        return [api.login(http, c, api.PASSWORD)["refresh_token"] for c in customers]


def _section(ctx: Context, params: Argon2Params, rows: dict[str, list], seconds: float) -> Section:
    section = Section("login", HEADING, ctx.command("login"))
    raw = rows["raw"]
    login_rps = [r[0] for r in rows["login"]]
    refresh_rps = [r[0] for r in rows["refresh"]]
    bare_rps = [r[0] for r in rows["bare"]]
    table = Table(f"{params.label()}; 1 uvicorn worker, {CONCURRENCY} concurrent clients, {ctx.repeats} × {seconds:g} s "
                  "runs; median (min–max)",
                  ["what", "per second", "ratio", "p50 ms", "p95 ms", "p99 ms", "failed"])
    table.add(f"raw argon2id verifications, {os.cpu_count()} threads (one per core)", Spread.of(raw).format("{:.1f}"),
              "baseline", "", "", "", "")
    over = [r for r, _ in rows["oversubscribed"]]
    table.add(f"raw argon2id verifications, {EXECUTOR_WIDTH} threads (asyncio's default executor width)",
              Spread.of(over).format("{:.1f}"), f"{ratios(over, raw).percent()} of one per core", "", "", "", "")
    rows_to_show = [("POST /auth/login", "login", login_rps, raw, "raw argon2")]
    if rows["login_core"]:
        raw_core = rows["raw_core"]
        table.add(f"raw argon2id verifications, 1 thread on CPU {APP_CPU}", Spread.of(raw_core).format("{:.1f}"),
                  "baseline of the next row", "", "", "", "")
        rows_to_show.append((f"POST /auth/login, app alone on CPU {APP_CPU} (client and datastores on the others)",
                             "login_core", [r[0] for r in rows["login_core"]], raw_core, "raw argon2 on that CPU"))
    for label, key, values, base, base_name in (
            *rows_to_show,
            ("POST /auth/refresh (rotating chain per client)", "refresh", refresh_rps, bare_rps, "bare endpoint"),
            ("bare FastAPI endpoint, same client", "bare", bare_rps, None, None)):
        lat = [r[2] for r in rows[key]]
        table.add(label, Spread.of(values).format("{:.1f}" if key.startswith("login") else "{:.0f}"),
                  f"{ratios(values, base).percent()} of {base_name}" if base else "baseline",
                  Spread.of(item["p50"] for item in lat).format("{:.1f}"), Spread.of(item["p95"] for item in lat).format("{:.1f}"),
                  Spread.of(item["p99"] for item in lat).format("{:.1f}"), sum(r[1] for r in rows[key]))
    section.tables.append(table)
    budget = Table("Where a login's CPU goes (CPU ms per successful login during the login runs; median)",
                   ["party", "CPU ms per login", "share"])
    per = {k: Spread.of(c[k] for c in rows["cpu"]).median for k in rows["cpu"][0]}
    argon2_ms = Spread.of(rows["argon2_cpu"]).median
    total = sum(per.values())
    budget.add("argon2id verification (CPU of one, from the raw runs)", f"{argon2_ms:.1f}", f"{argon2_ms / total:.0%}")
    budget.add("the rest of the app process (event loop, ORM, tokens, HTTP; argon2 beyond one thread per core)", f"{per['app'] - argon2_ms:.1f}",
               f"{(per['app'] - argon2_ms) / total:.0%}")
    budget.add("PostgreSQL", f"{per['postgres']:.1f}", f"{per['postgres'] / total:.0%}")
    budget.add("Redis", f"{per['redis']:.1f}", f"{per['redis'] / total:.0%}")
    budget.add("load generator (httpx client)", f"{per['client']:.1f}", f"{per['client'] / total:.0%}")
    budget.add("total", f"{total:.1f}", "100%")
    section.tables.append(budget)
    if rows["cpu_core"]:
        core_ms = Spread.of(rows["cpu_core"]).median
        section.note(f"App alone on one CPU: {core_ms:.1f} ms of app CPU per login, of which argon2 "
                     f"{argon2_ms:.1f} ms ({argon2_ms / core_ms:.0%}) and the app's own work (HTTP, middleware, "
                     f"ORM, Redis and PostgreSQL clients, token signing) {core_ms - argon2_ms:.1f} ms. That share is "
                     "the most a login can reach of the raw rate on a CPU of its own.")
    over_cpu = Spread.of(c for _, c in rows["oversubscribed"]).median
    section.note(f"One argon2id verification costs {argon2_ms:.1f} ms of CPU with one thread per core and "
                 f"{over_cpu:.1f} ms with {EXECUTOR_WIDTH} threads on {os.cpu_count()} cores (19 MiB each: more "
                 "threads than cores thrash the caches). The app therefore verifies in a pool of one thread per "
                 "usable CPU (STOREFRONT_PASSWORD_HASH_THREADS) rather than asyncio's default executor.")
    section.note(f"With every party on the same {os.cpu_count()} cores, logins can reach at most argon2's share of "
                 f"the CPU a login costs: {argon2_ms / total:.0%} of the raw rate here.")

    ratio = ratios(login_rps, raw)
    shared = f"{ratio.median:.0%} ({ratio.low:.0%}–{ratio.high:.0%}) sharing {os.cpu_count()} cores"
    judged = ratio
    if rows["login_core"]:
        core_ratio = ratios([r[0] for r in rows["login_core"]], rows["raw_core"])
        shared += f"; {core_ratio.median:.0%} ({core_ratio.low:.0%}–{core_ratio.high:.0%}) on a CPU of its own"
        judged = core_ratio if core_ratio.median > ratio.median else ratio
    verdict = "met" if judged.median >= TARGET else "NOT met"
    section.verdicts.append((f"login ≥ {TARGET:.0%} of the raw argon2 rate", shared, verdict))
    section.note(f"Target: login ≥ {TARGET:.0%} of the raw argon2 rate: {verdict} ({shared}).")
    section.note("The raw rate uses every core for argon2 alone; during the login run the same cores also carry "
                 "the load generator, PostgreSQL, Redis and the request handling, so the ratio is the share of the "
                 "machine's argon2 capacity a login can actually use.")
    return section
