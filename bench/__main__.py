"""``python -m bench [NAME ...]``: runs the named benchmarks (all by default), prints their
tables and writes them into docs/BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from bench import machine, report
from bench.context import Context

# name -> module; each module has HEADING and run(ctx) -> report.Section
BENCHMARKS = {
    "reads": "bench.reads",
    "auth-paths": "bench.auth_paths",
    "login": "bench.login",
    "orders": "bench.orders",
    "queue": "bench.queue",
    "tracing": "bench.tracing",
    "operator": "bench.operator_ready",
    "operator-node": "bench.operator_node",  # needs root and the machine's one node
    "rotation": "bench.rotation",
    "profile": "bench.profile",
    "before-after": "bench.before_after",
    "passwords": "bench.passwords",
    "mixed": "bench.mixed",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--repeats", type=int, default=Context.repeats, help="runs per figure (min/median/max)")
    parser.add_argument("--seconds", type=float, default=Context.seconds, help="length of one timed load run")
    parser.add_argument("--quick", action="store_true", help="short smoke run; figures indicative only")
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.seconds <= 0:
        parser.error("--repeats must be at least 1 and --seconds positive")
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    ctx = Context(repeats=args.repeats, seconds=args.seconds, quick=args.quick)
    names = args.names or list(BENCHMARKS)

    failed = []
    verdicts: list[tuple[str, str, str]] = []
    if not args.no_write:
        report.write_section("environment", "Environment of the last run", machine.markdown())
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        ctx.log(f"{name}: starting")
        t0 = time.monotonic()
        try:
            section = module.run(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            ctx.log(f"{name}: FAILED: {exc!r}")
            failed.append(name)
            continue
        section.measured = section.measured or machine.short()
        verdicts += section.verdicts
        text = section.markdown()
        print(f"\n## {section.heading}\n\n{text}", flush=True)
        if not args.no_write:
            report.write_section(name, section.heading, text)
        ctx.log(f"{name}: done in {time.monotonic() - t0:.0f}s")
    if verdicts:
        summary = report.Table("Targets of SPEC §7", ["target", "measured", "verdict"])
        for row in verdicts:
            summary.add(*row)
        print(f"\n{summary.markdown()}", flush=True)
        # Only a run of every benchmark speaks for all targets at once.
        if not args.no_write and not failed and set(names) == set(BENCHMARKS):
            report.write_section("summary", "Targets at a glance",
                                 f"From `{ctx.command('').replace('bench  ', 'bench ').rstrip()}`, "
                                 f"{machine.now_utc()}.\n\n{summary.markdown()}\n")
    if failed:
        ctx.log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
