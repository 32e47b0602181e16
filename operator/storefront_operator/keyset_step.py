"""The keys step of a reconcile: read the keyset Secret, advance the timeline, write it back."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import events, metrics
from .children.secrets import ROTATION_REQUEST_ANNOTATION, keyset_secret
from .keys import KEYSET_FILE, KeyPolicy, advance, dumps, keyset_secret_name, rotation_due_time
from .kube import Kube
from .model import Storefront
from .settings import ROTATE_ANNOTATION, Settings

log = logging.getLogger("storefront_operator.keys")


@dataclass
class KeysResult:
    ready: bool
    reason: str
    message: str
    active_kid: str | None
    last_rotation: str | None
    next_change: datetime | None


def policy_for(sf: Storefront, settings: Settings) -> KeyPolicy:
    jwt = sf.spec.jwt
    return KeyPolicy(jwt.algorithm, jwt.rotation_interval, jwt.propagation_delay, jwt.access_token_ttl,
                     timedelta(seconds=settings.clock_skew_seconds))


def read_keyset(secret: dict | None) -> dict | None:
    if not secret:
        return None
    raw = (secret.get("data") or {}).get(KEYSET_FILE)
    if not raw:
        return None
    try:
        return json.loads(base64.b64decode(raw))
    except ValueError:
        return None  # unreadable: start a fresh keyset rather than serve a broken one


def reconcile_keys(kube: Kube, sf: Storefront, settings: Settings, now: datetime) -> KeysResult:
    secret = kube.get("Secret", sf.namespace, keyset_secret_name(sf.name))
    current = read_keyset(secret)
    if secret is not None and current is None:
        events.post(kube, sf, "KeysetUnreadable", "the keyset Secret was unreadable and has been replaced", warning=True)
    handled = ((secret or {}).get("metadata", {}).get("annotations") or {}).get(ROTATION_REQUEST_ANNOTATION)
    requested = sf.annotations.get(ROTATE_ANNOTATION)
    rotate_now = bool(requested) and requested != handled

    plan = advance(current, policy_for(sf, settings), now, rotate_requested=rotate_now)
    if plan.changed or rotate_now or secret is None:
        kube.apply(keyset_secret(sf, dumps(plan.keyset), requested or handled))
        for verb, kid in plan.actions:
            metrics.ROTATIONS.labels(verb).inc()
            events.post(kube, sf, f"Key{verb.capitalize()}", _describe(verb, kid, sf))
            log.info("key %s", verb, extra={"kid": kid, "storefront": f"{sf.namespace}/{sf.name}"})

    keyset = plan.keyset
    active = next(k for k in keyset["keys"] if k["kid"] == keyset["active_kid"])
    metrics.KEY_ROTATION_DUE.labels(sf.namespace, sf.name).set(
        rotation_due_time(active, policy_for(sf, settings)).timestamp())
    pending = [k["kid"] for k in keyset["keys"] if k["state"] == "pending"]
    newest = max(k["created_at"] for k in keyset["keys"])
    message = f"{active['alg']} key {active['kid']} signs; {len(keyset['keys'])} key(s) published"
    if pending:
        message += f"; {pending[0]} is propagating"
    return KeysResult(True, "Rotating" if pending else "KeysetCurrent", message, active["kid"], newest, plan.next_change)


def _describe(verb: str, kid: str, sf: Storefront) -> str:
    delay = sf.spec.jwt.propagation_delay
    return {
        "created": f"created signing key {kid}",
        "published": f"published key {kid} for verification; it signs after {int(delay.total_seconds())}s",
        "activated": f"key {kid} now signs access tokens",
        "pruned": f"pruned retired key {kid}: every token it signed has expired",
    }.get(verb, f"{verb} {kid}")
