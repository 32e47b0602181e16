"""The password policy's cost: loading the breached-password lists, and checking one password,
against one argon2id verification at the app's parameters (what every login pays anyway).

The lists load once per process (at start-up); the check runs on every registration and
password change, on the event loop, before the argon2 hash.
"""

from __future__ import annotations

import json
import secrets
import statistics
import subprocess
import sys
import time

from bench import report
from bench.argon2_rate import Argon2Params
from bench.context import Context

HEADING = "Password policy: list loading and checks vs argon2"

_LOAD = """
import json, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from app.core.security import passwords
before, t0 = rss(), time.perf_counter()
entries = passwords.load_password_lists()
print(json.dumps({"ms": (time.perf_counter() - t0) * 1000, "mib": rss() - before, "entries": entries}))
"""


def _load_once() -> dict:
    out = subprocess.run([sys.executable, "-c", _LOAD], check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout)


def _per_call_ms(fn, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) * 1000 / calls


def _fmt(values: list[float], unit: str = "ms", digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} {unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def run(ctx: Context) -> report.Section:
    from argon2 import PasswordHasher, Type

    from app.core.security.passwords import WeakPassword, check_password_policy, load_password_lists

    section = report.Section("passwords", HEADING, ctx.command("passwords"))
    loads = [_load_once() for _ in range(ctx.repeats)]
    load_password_lists()

    params = Argon2Params.configured()
    hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                            parallelism=params.parallelism, hash_len=32, salt_len=16, type=Type.ID)
    stored = hasher.hash("correct horse battery staple 42")

    def check(password: str) -> None:
        try:
            check_password_policy(password, email="ada.lovelace@example.com", name="Ada Lovelace")
        except WeakPassword:
            pass

    cases = {
        "a passphrase (accepted)": lambda: "violet-anchor-gravel-" + secrets.token_hex(3),
        "a breached password (refused by the list)": lambda: "qwertyuiopasdfgh",
        "128 random characters (accepted, the longest allowed)": lambda: secrets.token_urlsafe(96),
        "a 128-character walk ending in noise (worst case found)": lambda: "1234567890" * 12 + secrets.token_hex(4),
    }
    calls = 20 if ctx.quick else 200
    argon2_ms: list[float] = []
    timings: dict[str, list[float]] = {name: [] for name in cases}
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ctx.repeats):  # interleaved: the baseline and each case run by run
        baseline = _per_call_ms(lambda: hasher.verify(stored, "correct horse battery staple 42"), 5 if ctx.quick else 20)
        argon2_ms.append(baseline)
        for name, make in cases.items():
            passwords = [make() for _ in range(calls)]
            it = iter(passwords)
            ms = _per_call_ms(lambda it=it: check(next(it)), calls)
            timings[name].append(ms)
            ratios[name].append(ms / baseline)

    loading = report.Table("Loading the lists (a fresh process each run)", ["what", "measured"])
    loading.add("entries (breached list + compiled list + roots)", f"{loads[0]['entries']:,}")
    loading.add("load time", _fmt([x["ms"] for x in loads], digits=0))
    loading.add("resident memory added", _fmt([x["mib"] for x in loads], "MiB", 1))
    checks = report.Table(f"One policy check vs one argon2id verification ({params.label()})",
                          ["password", "check", "share of one verification"])
    checks.add("baseline: one argon2id verification", _fmt(argon2_ms), "1")
    for name in cases:
        share = ratios[name]
        checks.add(name, _fmt(timings[name], digits=3),
                   f"{statistics.median(share):.3f} ({min(share):.3f}–{max(share):.3f})")
    section.tables += [loading, checks]
    section.note("The check is pure Python on the event loop; the argon2 hash that follows it runs in the "
                 "argon2 thread pool. Lookups are set membership; the pattern search gives up after a few "
                 "positions on a password that is far from predictable.")
    return section
