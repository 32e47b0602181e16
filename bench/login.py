"""Login throughput against the raw argon2id verification rate at the configured parameters,
and refresh throughput against a bare endpoint driven by the same client.

Method: the raw rate is argon2-cffi verifying in one thread per core for the run's length
(the most this machine can verify); login load is the Python load generator in its own
process, 8 concurrent clients logging in as 8 customers, on one uvicorn worker. Runs are
interleaved raw, login, refresh, bare so each ratio pairs runs taken moments apart.
"""

from __future__ import annotations

import os

from bench import api, cpu, loadgen
from bench.argon2_rate import Argon2Params, verify_cost
from bench.context import Context
from bench.report import Section, Table
from bench.services import Workdir
from bench.stats import Spread, latency_summary, ratios

HEADING = "Login and refresh throughput vs raw argon2"
TARGET = 0.9
CONCURRENCY = 8
# asyncio.to_thread runs in the default executor: min(32, cores + 4) threads.
EXECUTOR_WIDTH = min(32, (os.cpu_count() or 1) + 4)


def _throughput(result: dict) -> tuple[float, int, dict[str, float]]:
    ok = sum(n for status, n in result["statuses"].items() if status.startswith("2"))
    failed = sum(result["statuses"].values()) - ok + sum(result["errors"].values())
    return ok / result["wall_seconds"], failed, latency_summary(result["latencies_ms"])


def run(ctx: Context) -> Section:
    seconds = 3 if ctx.quick else ctx.seconds
    params = Argon2Params.configured()
    rows: dict[str, list] = {"raw": [], "login": [], "refresh": [], "bare": [], "cpu": [], "argon2_cpu": [], "oversubscribed": []}
    with Workdir("login") as work:
        ds = work.datastores()
        app = work.server("bench.apps:storefront_app", ds.env, "app")
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
            ctx.log(f"login: repeat {r + 1}/{ctx.repeats}: raw {rows['raw'][-1]:.1f}/s, "
                    f"login {rows['login'][-1][0]:.1f}/s, refresh {rows['refresh'][-1][0]:.0f}/s")
    return _section(ctx, params, rows, seconds)


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
    table.add(f"raw argon2id verifications, {EXECUTOR_WIDTH} threads (the default executor's width)",
              Spread.of(over).format("{:.1f}"), f"{ratios(over, raw).percent()} of one per core", "", "", "", "")
    for label, key, values, base, base_name in (
            ("POST /auth/login", "login", login_rps, raw, "raw argon2"),
            ("POST /auth/refresh (rotating chain per client)", "refresh", refresh_rps, bare_rps, "bare endpoint"),
            ("bare FastAPI endpoint, same client", "bare", bare_rps, None, None)):
        lat = [r[2] for r in rows[key]]
        table.add(label, Spread.of(values).format("{:.1f}" if key == "login" else "{:.0f}"),
                  f"{ratios(values, base).percent()} of {base_name}" if base else "baseline",
                  Spread.of(l["p50"] for l in lat).format("{:.1f}"), Spread.of(l["p95"] for l in lat).format("{:.1f}"),
                  Spread.of(l["p99"] for l in lat).format("{:.1f}"), sum(r[1] for r in rows[key]))
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
    over_cpu = Spread.of(c for _, c in rows["oversubscribed"]).median
    section.note(f"One argon2id verification costs {argon2_ms:.1f} ms of CPU with one thread per core and "
                 f"{over_cpu:.1f} ms with {EXECUTOR_WIDTH} threads on {os.cpu_count()} cores (19 MiB each: more "
                 "threads than cores thrash the caches). Logins verify through asyncio.to_thread, i.e. up to "
                 f"{EXECUTOR_WIDTH} at once here; bounding the verifications to one per core would spare that.")
    section.note(f"With every party on the same {os.cpu_count()} cores, logins can reach at most argon2's share of "
                 f"the CPU a login costs: {argon2_ms / total:.0%} of the raw rate here. The target needs that share "
                 "above 90%, i.e. the datastores and the client on other machines (as in a cluster) or the app's own "
                 f"non-argon2 work below a tenth of argon2's {argon2_ms:.0f} ms.")

    ratio = ratios(login_rps, raw)
    verdict = "met" if ratio.median >= TARGET else "NOT met"
    section.verdicts.append((f"login ≥ {TARGET:.0%} of the raw argon2 rate",
                             f"{ratio.median:.0%} ({ratio.low:.0%}–{ratio.high:.0%})", verdict))
    section.note(f"Target: login ≥ {TARGET:.0%} of the raw argon2 rate: {verdict} (median {ratio.median:.0%}, "
                 f"range {ratio.low:.0%}–{ratio.high:.0%}).")
    section.note("The raw rate uses every core for argon2 alone; during the login run the same cores also carry "
                 "the load generator, PostgreSQL, Redis and the request handling, so the ratio is the share of the "
                 "machine's argon2 capacity a login can actually use.")
    return section
