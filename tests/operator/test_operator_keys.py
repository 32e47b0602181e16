"""Key rotation: the pure timeline, the Secret it lives in, and the app's verifier across a rotation."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from sfop_support import condition, create_storefront

from storefront_operator.keys import KeyPolicy, advance, parse_stamp
from storefront_operator.keyset_step import read_keyset
from storefront_operator.model import DEFAULT_PROPAGATION_DELAY, parse_duration
from storefront_operator.reconcile import reconcile
from storefront_operator.settings import ROTATE_ANNOTATION, Settings

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
POLICY = KeyPolicy("EdDSA", rotation_interval=timedelta(hours=1), propagation_delay=timedelta(seconds=90),
                   access_token_ttl=timedelta(minutes=15), clock_skew=timedelta(seconds=60))


def _states(keyset):
    return {k["kid"]: k["state"] for k in keyset["keys"]}


def test_first_key_signs_at_once():
    plan = advance(None, POLICY, T0)
    [key] = plan.keyset["keys"]
    assert key["state"] == "active" and plan.keyset["active_kid"] == key["kid"]
    assert plan.actions == [("created", key["kid"])]
    assert plan.next_change == T0 + timedelta(hours=1)


def test_publish_then_activate_then_prune():
    first = advance(None, POLICY, T0).keyset
    old = first["active_kid"]
    assert not advance(first, POLICY, T0 + timedelta(minutes=59)).changed

    published = advance(first, POLICY, T0 + timedelta(hours=1))
    new = next(kid for verb, kid in published.actions if verb == "published")
    assert _states(published.keyset) == {old: "active", new: "pending"}
    assert published.keyset["active_kid"] == old, "a published key must not sign before it propagated"
    assert published.next_change == T0 + timedelta(hours=1, seconds=90)

    early = advance(published.keyset, POLICY, T0 + timedelta(hours=1, seconds=89))
    assert not early.changed
    activated = advance(published.keyset, POLICY, T0 + timedelta(hours=1, seconds=90))
    assert activated.actions == [("activated", new)]
    assert _states(activated.keyset) == {old: "retired", new: "active"}
    retired = next(k for k in activated.keyset["keys"] if k["kid"] == old)
    assert retired["private_key"] is None and parse_stamp(retired["retired_at"]) == T0 + timedelta(hours=1, seconds=90)

    # Kept while a lagging pod's last token could live: propagation delay + TTL + skew after retirement.
    prune_at = T0 + timedelta(hours=1, seconds=90) + timedelta(seconds=90) + timedelta(minutes=15) + timedelta(seconds=60)
    assert activated.next_change == prune_at
    assert old in _states(advance(activated.keyset, POLICY, prune_at - timedelta(seconds=1)).keyset)
    pruned = advance(activated.keyset, POLICY, prune_at)
    assert pruned.actions == [("pruned", old)] and _states(pruned.keyset) == {new: "active"}


def test_on_demand_rotation_and_algorithm_change():
    first = advance(None, POLICY, T0).keyset
    forced = advance(first, POLICY, T0 + timedelta(minutes=1), rotate_requested=True)
    assert [v for v, _ in forced.actions] == ["published"]
    again = advance(forced.keyset, POLICY, T0 + timedelta(minutes=1, seconds=10), rotate_requested=True)
    assert not again.changed, "a rotation already in flight absorbs a second request"
    es = KeyPolicy("ES256", POLICY.rotation_interval, POLICY.propagation_delay, POLICY.access_token_ttl, POLICY.clock_skew)
    switched = advance(first, es, T0 + timedelta(minutes=1))
    [(verb, kid)] = switched.actions
    assert verb == "published" and next(k for k in switched.keyset["keys"] if k["kid"] == kid)["alg"] == "ES256"


def test_input_keyset_is_never_mutated():
    first = advance(None, POLICY, T0).keyset
    snapshot = json.dumps(first, sort_keys=True)
    advance(first, POLICY, T0 + timedelta(hours=2))
    assert json.dumps(first, sort_keys=True) == snapshot


@pytest.mark.kube
def test_secret_rotation_on_annotation_and_status(kube, namespace):
    settings = Settings(resync_seconds=2)
    create_storefront(kube, namespace, jwt={"algorithm": "EdDSA", "rotationInterval": "720h", "accessTokenTTL": "15m",
                                            "propagationDelay": "90s"})
    now = datetime.now(UTC)
    reconcile(kube, namespace, "shop", settings, now=now)
    keyset = read_keyset(kube.get("Secret", namespace, "shop-jwt-keys"))
    first = keyset["active_kid"]
    sf = kube.get("Storefront", namespace, "shop")
    assert sf["status"]["activeKid"] == first and condition(sf, "KeysReady")["status"] == "True"

    kube.merge_patch("Storefront", namespace, "shop", {"metadata": {"annotations": {ROTATE_ANNOTATION: "ticket-1"}}})
    reconcile(kube, namespace, "shop", settings, now=now + timedelta(seconds=5))
    keyset = read_keyset(kube.get("Secret", namespace, "shop-jwt-keys"))
    assert _states(keyset)[first] == "active" and list(_states(keyset).values()).count("pending") == 1
    reconcile(kube, namespace, "shop", settings, now=now + timedelta(seconds=10))
    assert len(read_keyset(kube.get("Secret", namespace, "shop-jwt-keys"))["keys"]) == 2, "the same token rotates once"

    reconcile(kube, namespace, "shop", settings, now=now + timedelta(seconds=96))
    keyset = read_keyset(kube.get("Secret", namespace, "shop-jwt-keys"))
    sf = kube.get("Storefront", namespace, "shop")
    assert keyset["active_kid"] != first and sf["status"]["activeKid"] == keyset["active_kid"]
    assert any(e["reason"] == "KeyActivated" for e in kube.list("Event", namespace))


# -- the app's verifier through a whole rotation -------------------------------------------


class _Kubelet:
    """Projects the operator's Secret into one pod's file with a lag, atomically like ..data swaps."""

    def __init__(self, path: Path, lag: float):
        self.path, self.lag, self.seen = path, lag, None

    def sync(self, history: list[tuple[float, str]], now: float) -> None:
        visible = [doc for t, doc in history if t <= now - self.lag]
        if visible and visible[-1] != self.seen:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(visible[-1])
            os.replace(tmp, self.path)
            self.seen = visible[-1]


def _rotate_under_traffic(tmp_path, propagation_delay: float, seconds: float) -> tuple[list[str], list[str]]:
    """Three pods whose Secret copies lag 0, 0.8 and 1.6 s behind the operator's, each issuing a
    token every tick with the app's TokenService; every pod verifies every live token."""
    from app.core.security.keys import KeyManager
    from app.core.security.tokens import TokenPolicy, TokenService, TokenType

    policy = KeyPolicy("EdDSA", rotation_interval=timedelta(seconds=4), propagation_delay=timedelta(seconds=propagation_delay),
                       access_token_ttl=timedelta(seconds=3), clock_skew=timedelta(seconds=1))
    token_policy = TokenPolicy(issuer="storefront", audience="storefront-api", access_ttl=3, mfa_ttl=60, leeway=0)
    history: list[tuple[float, str]] = []
    keyset = None
    actions: list[str] = []
    services: list = []
    kubelets = [_Kubelet(tmp_path / f"pod-{i}.json", lag) for i, lag in enumerate((0.0, 0.8, 1.6))]
    tokens: list[tuple[str, float, str]] = []
    failures: list[str] = []
    start = time.time()
    while time.time() - start < seconds:
        now = time.time()
        plan = advance(keyset, policy, datetime.fromtimestamp(now, UTC))
        if plan.changed:
            keyset = plan.keyset
            history.append((now, json.dumps(keyset)))
            actions += [verb for verb, _ in plan.actions]
        for kubelet in kubelets:
            kubelet.sync(history, now)
        if not services and all(k.seen for k in kubelets):
            services = [TokenService(KeyManager(k.path, poll_seconds=60), token_policy) for k in kubelets]
        for service in services:
            token, _ = service.issue(TokenType.ACCESS, "user")
            expires = jwt.decode(token, options={"verify_signature": False})["exp"]  # whole seconds
            tokens.append((token, expires, service.keys.signing_key().kid))
        for token, expires, kid in tokens:
            if expires - time.time() < 0.3:
                continue  # about to expire: its fate no longer depends on the keyset
            for pod, service in enumerate(services):
                try:
                    service.verify(token, TokenType.ACCESS)
                except Exception as exc:  # noqa: BLE001 - collected and reported below
                    failures.append(f"pod {pod} rejected a token of {kid}: {exc}")
        tokens = [t for t in tokens if t[1] > time.time()]
        time.sleep(0.2)
    return failures, actions


@pytest.mark.slow
def test_app_verifier_accepts_every_token_during_rotations(tmp_path):
    # Every lag stays below the propagation delay, as the kubelet's Secret refresh does.
    failures, actions = _rotate_under_traffic(tmp_path, propagation_delay=2, seconds=14)
    assert failures == []
    assert actions.count("activated") >= 2 and actions.count("pruned") >= 1, actions


@pytest.mark.slow
def test_control_activating_before_propagation_rejects_tokens(tmp_path):
    """The same traffic with a delay shorter than the lag must fail: the check above can see it."""
    failures, actions = _rotate_under_traffic(tmp_path, propagation_delay=0.1, seconds=8)
    assert actions.count("activated") >= 1
    assert any("unknown key" in f for f in failures), failures[:3]


@pytest.mark.kube
def test_a_restart_mid_rotation_resumes_the_same_timeline(kube, namespace, crds):
    from storefront_operator.kube import Kube

    settings = Settings(resync_seconds=2)
    create_storefront(kube, namespace)
    kube.merge_patch("Storefront", namespace, "shop", {"metadata": {"annotations": {ROTATE_ANNOTATION: "now"}}})
    now = datetime.now(UTC)
    reconcile(kube, namespace, "shop", settings, now=now)
    keyset = read_keyset(kube.get("Secret", namespace, "shop-jwt-keys"))
    assert len(keyset["keys"]) == 1, "a new Storefront's first key signs at once; the request is for later rotations"
    kube.merge_patch("Storefront", namespace, "shop", {"metadata": {"annotations": {ROTATE_ANNOTATION: "again"}}})
    reconcile(kube, namespace, "shop", settings, now=now + timedelta(seconds=1))
    pending = [k["kid"] for k in read_keyset(kube.get("Secret", namespace, "shop-jwt-keys"))["keys"] if k["state"] == "pending"]
    assert len(pending) == 1

    restarted = Kube.from_kubeconfig(str(crds.kubeconfig))  # a new process: all it knows is in the API
    reconcile(restarted, namespace, "shop", settings, now=now + timedelta(seconds=30))
    keyset = read_keyset(kube.get("Secret", namespace, "shop-jwt-keys"))
    assert [k["kid"] for k in keyset["keys"] if k["state"] == "pending"] == pending, "no second key, no early activation"
    # Published at now+1s; activation is due one default propagation delay later.
    delay = parse_duration(DEFAULT_PROPAGATION_DELAY, "default")
    reconcile(restarted, namespace, "shop", settings, now=now + timedelta(seconds=2) + delay)
    assert read_keyset(kube.get("Secret", namespace, "shop-jwt-keys"))["active_kid"] == pending[0]
