"""Conditions per Kubernetes API conventions, and the status document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .keys import stamp

READY = "Ready"
MIGRATIONS = "MigrationsSucceeded"
KEYS = "KeysReady"
REDIS = "RedisReady"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
ORDER = [READY, MIGRATIONS, KEYS, REDIS, PROGRESSING, DEGRADED]


class Conditions:
    """Collects this reconcile's conditions; keeps lastTransitionTime when a status did not change."""

    def __init__(self, previous: list[dict[str, Any]] | None, generation: int, now: datetime):
        self.previous = {c["type"]: c for c in previous or []}
        self.generation = generation
        self.now = now
        self.current: dict[str, dict[str, Any]] = {}

    def set(self, type_: str, status: bool | str, reason: str, message: str = "") -> None:
        value = status if isinstance(status, str) else ("True" if status else "False")
        before = self.previous.get(type_)
        changed = before is None or before.get("status") != value
        self.current[type_] = {
            "type": type_, "status": value, "reason": reason, "message": message[:1024],
            "lastTransitionTime": stamp(self.now) if changed else before["lastTransitionTime"],
            "observedGeneration": self.generation,
        }

    def get(self, type_: str) -> dict[str, Any] | None:
        return self.current.get(type_) or self.previous.get(type_)

    def is_true(self, type_: str) -> bool:
        cond = self.get(type_)
        return bool(cond and cond["status"] == "True")

    def as_list(self) -> list[dict[str, Any]]:
        merged = {**self.previous, **self.current}
        return [merged[t] for t in ORDER if t in merged] + [c for t, c in merged.items() if t not in ORDER]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _without_nulls(value: Any) -> Any:
    """What the API server stores of a merge patch: null removes a key, so it is never read back."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def status_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(_without_nulls(old.get(k)) != _without_nulls(v) for k, v in new.items())
