"""The open-loop mix of the load generator (``bench mixed``): requests leave on schedule, are
drawn from the classes by weight reproducibly, and are timed per class; a run that falls
behind its schedule is recognised as saturated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import loadgen
from bench.mixed import _saturated
from bench.services import Server


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory):
    log = Path(tmp_path_factory.mktemp("bare")) / "bare.log"
    with Server("bench.apps:bare_app", dict(os.environ), log) as server:
        yield server


def _plan(url: str, seed: int) -> dict:
    return {"base_url": url, "scenario": "open_mix", "rate": 50, "seconds": 2, "seed": seed, "classes": [
        {"name": "found", "weight": 3, "requests": [{"path": "/products"}], "ok": [200]},
        {"name": "missing", "weight": 1, "requests": [{"path": "/nowhere"}], "ok": [404]},
    ]}


def test_every_scheduled_request_is_sent_and_timed_per_class(bare):
    result = loadgen.run(_plan(bare.url, seed=7), timeout=60)

    counts = {name: len(times) for name, times in result["by_class"].items()}
    assert sum(counts.values()) == 100  # 50 per second for 2 seconds
    assert counts["found"] > counts["missing"] > 0
    assert result["statuses"] == {"200": counts["found"], "404": counts["missing"]}
    assert result["failed_by_class"] == {} and result["shed_by_class"] == {}
    assert result["offered_seconds"] == 2
    # Sent on schedule, not back to back: the run lasts as long as the schedule.
    assert result["wall_seconds"] >= 1.9
    assert not _saturated(result)


def test_the_same_seed_draws_the_same_mix(bare):
    first = loadgen.run(_plan(bare.url, seed=3), timeout=60)
    again = loadgen.run(_plan(bare.url, seed=3), timeout=60)
    assert {k: len(v) for k, v in first["by_class"].items()} == {k: len(v) for k, v in again["by_class"].items()}


def test_an_answer_other_than_the_expected_counts_as_failed(bare):
    plan = _plan(bare.url, seed=1)
    plan["classes"][1]["ok"] = [200]  # /nowhere answers 404
    result = loadgen.run(plan, timeout=60)
    assert result["failed_by_class"]["missing"] == len(result["by_class"]["missing"])
    assert _saturated(result)
