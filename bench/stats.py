"""Small statistics: percentiles of latency samples and min/median/max over repeated runs."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Spread:
    """min/median/max of one figure over repeated runs."""

    low: float
    median: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        data = [float(v) for v in values]
        if not data:
            raise ValueError("spread of no runs")
        return cls(min(data), statistics.median(data), max(data), len(data))

    def format(self, fmt: str = "{:.0f}", unit: str = "") -> str:
        """``median (min–max)``; a single run shows just the value."""
        if self.runs == 1:
            return fmt.format(self.median) + unit
        return f"{fmt.format(self.median)}{unit} ({fmt.format(self.low)}–{fmt.format(self.high)})"

    def percent(self) -> str:
        return Spread(self.low * 100, self.median * 100, self.high * 100, self.runs).format("{:.0f}", "%")


def ratios(subject: Sequence[float], baseline: Sequence[float]) -> Spread:
    """Per-run ratios subject[i] / baseline[i]; runs are paired because they were interleaved."""
    if len(subject) != len(baseline):
        raise ValueError("ratios need paired runs")
    return Spread.of(s / b for s, b in zip(subject, baseline, strict=True) if b)


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(latencies_ms, 50),
        "p95": percentile(latencies_ms, 95),
        "p99": percentile(latencies_ms, 99),
        "max": max(latencies_ms),
    }
