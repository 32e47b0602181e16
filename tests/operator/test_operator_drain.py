"""The operator chart's pre-delete hook (`python -m storefront_operator.drain`) against the real
API server: it waits while a Storefront being deleted still carries the operator's finalizer,
ignores Storefronts that are not being deleted, and gives up after its bound."""

from __future__ import annotations

import pytest
from sfop_support import create_storefront

from storefront_operator.drain import finalizing, wait_for_deletions
from storefront_operator.settings import FINALIZER

pytestmark = pytest.mark.kube


def _create_with_finalizer(kube, namespace: str, name: str) -> None:
    create_storefront(kube, namespace, name)
    kube.merge_patch("Storefront", namespace, name, {"metadata": {"finalizers": [FINALIZER]}})


def test_waits_for_storefronts_being_deleted_and_ignores_the_others(kube, namespace) -> None:
    _create_with_finalizer(kube, namespace, "leaving")
    _create_with_finalizer(kube, namespace, "staying")
    kube.delete("Storefront", namespace, "leaving")
    try:
        assert finalizing(kube, [namespace]) == [f"{namespace}/leaving"]
        # Cluster-wide (no watched namespaces) finds it too.
        assert f"{namespace}/leaving" in finalizing(kube, [])

        # What the operator does when it has stopped the Storefront's daemon: drop the finalizer.
        polls = []
        def operator_finalizes(_: float) -> None:
            polls.append(1)
            kube.merge_patch("Storefront", namespace, "leaving", {"metadata": {"finalizers": None}})
        assert wait_for_deletions(kube, [namespace], timeout=30, interval=0, sleep=operator_finalizes) == []
        assert polls == [1]
        assert kube.get("Storefront", namespace, "leaving") is None
        assert kube.get("Storefront", namespace, "staying") is not None
    finally:
        for name in ("leaving", "staying"):
            if kube.get("Storefront", namespace, name):
                kube.merge_patch("Storefront", namespace, name, {"metadata": {"finalizers": None}})


def test_gives_up_after_its_bound_naming_what_is_left(kube, namespace) -> None:
    _create_with_finalizer(kube, namespace, "stuck")
    kube.delete("Storefront", namespace, "stuck")
    now = [0.0]
    def clock() -> float:
        return now[0]
    def sleep(seconds: float) -> None:
        now[0] += 5
    try:
        assert wait_for_deletions(kube, [namespace], timeout=12, clock=clock, sleep=sleep) == [f"{namespace}/stuck"]
        assert now[0] == 15
    finally:
        kube.merge_patch("Storefront", namespace, "stuck", {"metadata": {"finalizers": None}})
