"""JWT signing-key rotation: the keyset document (docs/interfaces.md) and its timeline.

Publish-then-activate, as pure functions of the current keyset and an explicit ``now``:

1. a new key is added as ``pending`` (verify-only) when the active key is older than
   ``rotationInterval``, when its algorithm no longer matches the spec, or on demand;
2. it becomes ``active`` once it has been published for ``propagationDelay`` (longer than the
   kubelet's Secret refresh), so every pod can verify it before any pod signs with it; the
   previous active key becomes ``retired`` at that moment;
3. a retired key is pruned only after every token it may have signed has expired: pods that
   have not yet seen the activation keep signing with it for up to ``propagationDelay``, and
   each token lives ``accessTokenTTL`` (plus clock skew).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

KEYSET_FILE = "keyset.json"
MOUNT_DIR = "/var/run/storefront/keys"


def keyset_secret_name(storefront: str) -> str:
    return f"{storefront}-jwt-keys"


@dataclass(frozen=True)
class KeyPolicy:
    algorithm: str
    rotation_interval: timedelta
    propagation_delay: timedelta
    access_token_ttl: timedelta
    clock_skew: timedelta


@dataclass
class KeysetPlan:
    keyset: dict[str, Any]
    actions: list[tuple[str, str]] = field(default_factory=list)  # (verb, kid): created/published/activated/pruned
    next_change: datetime | None = None

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    @property
    def rotated(self) -> bool:
        return any(verb == "published" for verb, _ in self.actions)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def new_key(algorithm: str, state: str, now: datetime) -> dict[str, Any]:
    if algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    return {
        "kid": f"sf-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}",
        "alg": algorithm,
        "state": state,
        "private_key": private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode(),
        "public_key": private.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        "created_at": stamp(now),
        "activated_at": stamp(now) if state == "active" else None,
        "retired_at": None,
    }


def prune_time(key: dict[str, Any], policy: KeyPolicy) -> datetime | None:
    retired = parse_stamp(key.get("retired_at"))
    if retired is None:
        return None
    return retired + policy.propagation_delay + policy.access_token_ttl + policy.clock_skew


def activation_time(key: dict[str, Any], policy: KeyPolicy) -> datetime:
    return parse_stamp(key["created_at"]) + policy.propagation_delay


def rotation_due_time(active: dict[str, Any], policy: KeyPolicy) -> datetime:
    return (parse_stamp(active.get("activated_at")) or parse_stamp(active["created_at"])) + policy.rotation_interval


def _find(keyset: dict[str, Any], state: str) -> dict[str, Any] | None:
    return next((k for k in keyset["keys"] if k["state"] == state), None)


def advance(keyset: dict[str, Any] | None, policy: KeyPolicy, now: datetime, rotate_requested: bool = False,
            make_key: Callable[[str, str, datetime], dict[str, Any]] = new_key) -> KeysetPlan:
    """One step of the timeline. Never mutates ``keyset``; returns the next document and what changed."""
    if keyset is None or not keyset.get("keys") or _find(keyset, "active") is None:
        # No key has ever signed: nothing to propagate yet, so the first key signs at once.
        key = make_key(policy.algorithm, "active", now)
        plan = KeysetPlan({"version": 1, "active_kid": key["kid"], "keys": [key]}, [("created", key["kid"])])
        plan.next_change = rotation_due_time(key, policy)
        return plan

    doc = json.loads(json.dumps(keyset))  # deep copy of plain JSON
    plan = KeysetPlan(doc)

    kept = []
    for key in doc["keys"]:
        due = prune_time(key, policy)
        if key["state"] == "retired" and due is not None and due <= now:
            plan.actions.append(("pruned", key["kid"]))
        else:
            kept.append(key)
    doc["keys"] = kept

    pending = _find(doc, "pending")
    if pending is not None and activation_time(pending, policy) <= now:
        active = _find(doc, "active")
        if active is not None:
            active["state"] = "retired"
            active["retired_at"] = stamp(now)
            active["private_key"] = None  # a retired key only verifies; its private half is no longer needed
        pending["state"] = "active"
        pending["activated_at"] = stamp(now)
        doc["active_kid"] = pending["kid"]
        plan.actions.append(("activated", pending["kid"]))
        pending = None

    active = _find(doc, "active")
    if pending is None:
        due = rotation_due_time(active, policy) <= now
        wrong_alg = active["alg"] != policy.algorithm
        if due or wrong_alg or rotate_requested:
            key = make_key(policy.algorithm, "pending", now)
            doc["keys"].append(key)
            plan.actions.append(("published", key["kid"]))
            pending = key

    moments = [prune_time(k, policy) for k in doc["keys"]]
    moments.append(activation_time(pending, policy) if pending else rotation_due_time(active, policy))
    plan.next_change = min(m for m in moments if m is not None)
    return plan


def dumps(keyset: dict[str, Any]) -> str:
    return json.dumps(keyset, indent=2, sort_keys=False)
