"""A Python load generator that runs in its own process: ``python -m bench.loadgen < plan.json``.

Used where every response must be checked (orders, login, refresh, rotation) rather than only
counted; the raw-throughput read benchmark uses wrk instead. The plan is JSON on stdin, the
result JSON on stdout. Every run is bounded by a request count or a duration, and every
request by a timeout, so a hung server shows up as ``timeout`` errors, not as a hung run.

Scenarios:
- ``burst``: fire the given requests with at most ``concurrency`` in flight.
- ``repeat``: request templates, repeated by ``concurrency`` workers for ``seconds``.
- ``refresh_chain``: each worker owns a refresh token and rotates it for ``seconds``.
- ``open_mix``: an open-loop mix at a fixed offered rate: ``rate`` requests per second for
  ``seconds``, each drawn from ``classes`` by weight (seeded, so runs are comparable), sent on
  schedule whether or not earlier ones have answered; latencies are kept per class.
- ``session_mix``: each worker refreshes, then calls ``path`` ``reads_per_refresh`` times with
  the fresh access token, on another instance when ``urls`` lists several (exercises signing
  and verification across key rotations).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx


class Recorder:
    def __init__(self, keep_bodies: bool = False):
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latencies_ms: list[float] = []
        self.samples: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.keep_bodies = keep_bodies
        self.extra: dict[str, Any] = {}  # scenario-specific findings

    async def send(self, client: httpx.AsyncClient, method: str, url: str, *, ok: tuple[int, ...] = (),
                   **kwargs: Any) -> httpx.Response | None:
        started_at = time.time()  # wall clock, so a test can line samples up with its own actions
        t0 = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            elapsed = (time.perf_counter() - t0) * 1000
            self.errors[type(exc).__name__] += 1
            self.latencies_ms.append(elapsed)
            self._fail({"url": url, "error": type(exc).__name__})
            if self.keep_bodies:
                self.samples.append({"status": None, "error": type(exc).__name__, "ms": elapsed, "method": method,
                                     "url": url, "t": started_at})
            return None
        elapsed = (time.perf_counter() - t0) * 1000
        self.latencies_ms.append(elapsed)
        self.statuses[str(response.status_code)] += 1
        if self.keep_bodies:
            self.samples.append({"status": response.status_code, "ms": elapsed, "body": _json_or_none(response),
                                 "method": method, "url": url, "t": started_at})
        if ok and response.status_code not in ok:
            self._fail({"url": url, "status": response.status_code, "body": response.text[:300]})
        return response

    def _fail(self, entry: dict[str, Any]) -> None:
        if len(self.failures) < 20:  # enough to diagnose, bounded in size
            self.failures.append(entry)

    def result(self, wall: float) -> dict[str, Any]:
        return {"wall_seconds": wall, "statuses": dict(self.statuses), "errors": dict(self.errors),
                "latencies_ms": self.latencies_ms, "samples": self.samples, "failures": self.failures, **self.extra}


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


async def burst(client: httpx.AsyncClient, plan: dict[str, Any], rec: Recorder) -> None:
    gate = asyncio.Semaphore(plan.get("concurrency", len(plan["requests"])))
    start = asyncio.Event()

    async def one(req: dict[str, Any]) -> None:
        await start.wait()  # all tasks exist before the first request leaves
        async with gate:
            await rec.send(client, req.get("method", "GET"), req["path"], headers=req.get("headers"),
                           json=req.get("json"))

    tasks = [asyncio.create_task(one(r)) for r in plan["requests"]]
    await asyncio.sleep(0)
    start.set()
    await asyncio.gather(*tasks)


async def repeat(client: httpx.AsyncClient, plan: dict[str, Any], rec: Recorder) -> None:
    # ``request`` for all workers, or ``requests``: worker i repeats requests[i % len].
    templates = plan.get("requests") or [plan["request"]]
    deadline = time.monotonic() + plan["seconds"]
    limit = plan.get("max_requests", 1_000_000)
    sent = 0

    cycle = plan.get("cycle", False)  # each worker walks through all templates in turn

    async def worker(index: int) -> None:
        nonlocal sent
        step = 0
        while time.monotonic() < deadline and sent < limit:
            req = templates[(index + step if cycle else index) % len(templates)]
            step += 1
            sent += 1
            await rec.send(client, req.get("method", "GET"), req["path"], headers=req.get("headers"),
                           json=req.get("json"), ok=tuple(plan.get("ok", ())))

    await asyncio.gather(*(worker(i) for i in range(plan["concurrency"])))


async def refresh_chain(client: httpx.AsyncClient, plan: dict[str, Any], rec: Recorder) -> None:
    deadline = time.monotonic() + plan["seconds"]

    async def worker(token: str) -> None:
        while time.monotonic() < deadline:
            response = await rec.send(client, "POST", "/auth/refresh", json={"refresh_token": token}, ok=(200,))
            if response is None or response.status_code != 200:
                return  # the chain is broken; the failure is recorded
            token = response.json()["refresh_token"]

    await asyncio.gather(*(worker(t) for t in plan["refresh_tokens"]))


async def session_mix(client: httpx.AsyncClient, plan: dict[str, Any], rec: Recorder) -> None:
    """With several ``urls`` (instances of the app), worker i refreshes at urls[i] and reads at
    urls[i + 1], so every token is verified by an instance other than the one that signed it."""
    deadline = time.monotonic() + plan["seconds"]
    reads = plan.get("reads_per_refresh", 5)
    urls = plan.get("urls") or [plan["base_url"]]
    kids: Counter[str] = Counter()

    async def worker(index: int, token: str) -> None:
        signer, verifier = urls[index % len(urls)], urls[(index + 1) % len(urls)]
        while time.monotonic() < deadline:
            response = await rec.send(client, "POST", signer + "/auth/refresh", json={"refresh_token": token}, ok=(200,))
            if response is None or response.status_code != 200:
                return
            pair = response.json()
            token = pair["refresh_token"]
            kids[_kid(pair["access_token"])] += 1
            headers = {"Authorization": f"Bearer {pair['access_token']}"}
            for _ in range(reads):
                await rec.send(client, "GET", verifier + plan["path"], headers=headers, ok=(200,))

    await asyncio.gather(*(worker(i, t) for i, t in enumerate(plan["refresh_tokens"])))
    rec.extra["signing_kids"] = dict(kids)


async def open_mix(client: httpx.AsyncClient, plan: dict[str, Any], rec: Recorder) -> None:
    """Open loop: the schedule, not the server, sets the pace, so a slow answer cannot lower the
    offered rate (closed-loop clients hide queueing that way). A request that would exceed
    ``max_in_flight`` is not sent and is counted as ``shed``: the offered rate was too high."""
    import random

    classes = plan["classes"]  # [{"name", "weight", "requests": [request, ...]}]
    rng = random.Random(plan.get("seed", 1))
    names = [c["name"] for c in classes]
    picks = rng.choices(range(len(classes)), weights=[c["weight"] for c in classes],
                        k=int(plan["rate"] * plan["seconds"]))
    by_class: dict[str, list[float]] = {n: [] for n in names}
    failed: Counter[str] = Counter()
    shed: Counter[str] = Counter()
    in_flight: set[asyncio.Task[None]] = set()
    limit = plan.get("max_in_flight", 512)

    async def one(cls: dict[str, Any], req: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        response = await rec.send(client, req.get("method", "GET"), req["path"], headers=req.get("headers"),
                                  json=req.get("json"), ok=tuple(cls.get("ok", (200,))))
        by_class[cls["name"]].append((time.perf_counter() - t0) * 1000)
        if response is None or response.status_code not in cls.get("ok", (200,)):
            failed[cls["name"]] += 1

    start = time.perf_counter()
    for i, index in enumerate(picks):
        delay = start + i / plan["rate"] - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule itself, not a wait for a condition
        cls = classes[index]
        if len(in_flight) >= limit:
            shed[cls["name"]] += 1
            continue
        req = cls["requests"][i % len(cls["requests"])]
        task = asyncio.create_task(one(cls, req))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    rec.extra.update({"by_class": by_class, "failed_by_class": dict(failed), "shed_by_class": dict(shed),
                      "offered_seconds": len(picks) / plan["rate"]})


def _kid(jwt: str) -> str:
    import base64

    header = jwt.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("kid", "?")


SCENARIOS = {"burst": burst, "repeat": repeat, "refresh_chain": refresh_chain, "session_mix": session_mix,
             "open_mix": open_mix}


async def main(plan: dict[str, Any]) -> dict[str, Any]:
    base = plan["base_url"]
    if not base.startswith(("http://127.", "http://localhost")):
        raise SystemExit(f"load goes to loopback only, not {base}")
    scenario = SCENARIOS[plan["scenario"]]
    rec = Recorder(keep_bodies=plan.get("keep_bodies", False))
    limits = httpx.Limits(max_connections=plan.get("connections", 64), max_keepalive_connections=plan.get("connections", 64))
    timeout = httpx.Timeout(plan.get("timeout_seconds", 10.0))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        t0 = time.monotonic()
        await scenario(client, plan, rec)
        wall = time.monotonic() - t0
    return rec.result(wall)


def run(plan: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Runs a plan in a separate process and returns its result."""
    return finish(start(plan), timeout)


def start(plan: dict[str, Any]) -> subprocess.Popen[str]:
    """Starts a plan in a separate process and returns at once (for faults injected meanwhile)."""
    root = __file__.rsplit("/bench/", 1)[0]
    proc = subprocess.Popen([sys.executable, "-m", "bench.loadgen"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=root)
    proc._plan = plan  # type: ignore[attr-defined]  # for finish()'s default time limit
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(plan))
    proc.stdin.close()
    proc.stdin = None  # communicate() must not touch the closed pipe
    return proc


def finish(proc: subprocess.Popen[str], timeout: float | None = None) -> dict[str, Any]:
    plan = proc._plan  # type: ignore[attr-defined]
    limit = timeout or (plan.get("seconds", 0) + plan.get("timeout_seconds", 10.0) + 60)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"load generator still running after {limit:.0f}s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err[-2000:]}")
    return json.loads(out)


if __name__ == "__main__":
    import uvloop

    json.dump(uvloop.run(main(json.load(sys.stdin))), sys.stdout)
