"""Kopf wiring, kept thin: one daemon per Storefront runs reconcile() in a worker thread, then
sleeps until its next due time or until a change to it or its children wakes it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from . import metrics
from .kube import KubeError
from .reconcile import reconcile
from .runtime import RUNTIME
from .settings import FINALIZER, GROUP, MANAGED_BY, PLURAL, VERSION

log = logging.getLogger("storefront_operator")
CHILD_LABELS = {"app.kubernetes.io/managed-by": MANAGED_BY}
RECONCILE_TIMEOUT = 180  # seconds; API and Redis calls carry their own shorter timeouts
MAX_ERROR_BACKOFF = 300


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.level = logging.WARNING  # our own Events say what happened; Kopf's would repeat them
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60
    settings.peering.name = RUNTIME.settings.peering_name
    _ensure_peering_object(RUNTIME.settings.peering_name)


def _ensure_peering_object(name: str) -> None:
    """Peering only works when its object exists (without one, two replicas would both act).
    The chart creates it; this covers installs from raw manifests when RBAC allows it."""
    if RUNTIME.settings.standalone:
        return
    kube = RUNTIME.client()
    namespaces = RUNTIME.settings.namespaces
    wanted = ([{"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": name, "namespace": ns}}
               for ns in namespaces] if namespaces
              else [{"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}])
    for obj in wanted:
        meta = obj["metadata"]
        try:
            if kube.get(obj["kind"], meta.get("namespace"), name) is None:
                kube.create(obj)
                log.info("created %s %s", obj["kind"], name)
        except KubeError as exc:
            if exc.status in (403, 404):
                # Forbidden, or the peering CRDs are not installed: run on, but say what it costs.
                log.warning("peering object %s is missing and cannot be created (%s): replicas cannot coordinate",
                            name, exc.details.get("message", exc.status))
            elif not exc.conflict:
                raise


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10)
async def storefront_loop(namespace: str, name: str, stopped: Any, logger: logging.Logger, **_: Any) -> None:
    wakeup = RUNTIME.wakeup(namespace, name)
    loop = asyncio.get_running_loop()
    failures = 0
    try:
        while not stopped:
            wakeup.clear()
            try:
                outcome = await asyncio.wait_for(
                    loop.run_in_executor(RUNTIME.pool, reconcile, RUNTIME.client(), namespace, name, RUNTIME.settings),
                    RECONCILE_TIMEOUT)
                failures = 0
                if outcome is None:
                    _forget_metrics(namespace, name)
                    return
                delay = outcome.requeue_after
            except Exception as exc:  # noqa: BLE001 - one failing Storefront must keep retrying, not die
                failures += 1
                metrics.FAILURES.labels("reconcile").inc()
                delay = min(RUNTIME.settings.resync_seconds * 2 ** min(failures, 10), MAX_ERROR_BACKOFF)
                logger.error("reconcile failed (attempt %d), retrying in %.0fs: %s", failures, delay, exc)
            await _sleep(wakeup, stopped, delay)
    finally:
        RUNTIME.forget(namespace, name)


def _forget_metrics(namespace: str, name: str) -> None:
    for gauge in (metrics.READY, metrics.KEY_ROTATION_DUE, metrics.QUEUE_LAG, metrics.QUEUE_PENDING,
                  metrics.QUEUE_DEAD_LETTERS):
        try:
            gauge.remove(namespace, name)
        except KeyError:
            pass
    for labels in [k for k in metrics.CONDITION._metrics if k[:2] == (namespace, name)]:
        metrics.CONDITION.remove(*labels)


async def _sleep(wakeup: asyncio.Event, stopped: Any, delay: float) -> None:
    waiters = [asyncio.ensure_future(wakeup.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.sleep(0.2)  # coalesce a burst of watch events into one reconcile
    finally:
        for waiter in waiters:
            waiter.cancel()


# Async on purpose: they run in the event loop, where asyncio.Event.set() is safe.
@kopf.on.event(GROUP, VERSION, PLURAL)
async def storefront_changed(namespace: str, name: str, **_: Any) -> None:
    RUNTIME.wake(namespace, name)


def _wake_owner(meta: Any, namespace: str) -> None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "Storefront":
            RUNTIME.wake(namespace, ref.get("name"))


@kopf.on.event("apps", "v1", "deployments", labels=CHILD_LABELS)
async def deployment_changed(meta: Any, namespace: str, **_: Any) -> None:
    _wake_owner(meta, namespace)


@kopf.on.event("batch", "v1", "jobs", labels=CHILD_LABELS)
async def job_changed(meta: Any, namespace: str, **_: Any) -> None:
    _wake_owner(meta, namespace)
