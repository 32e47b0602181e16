"""One reconcile of one Storefront: compute what should exist, apply it, report status.

Synchronous and free of Kopf so tests (and the daemon, in a worker thread) call it directly
with an explicit ``now``. Each step's failure is reported in its own condition; an unexpected
API error propagates so the caller retries with backoff.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import events, metrics, tracing
from .children import desired_children, optional_children
from .children.meta import app_secrets_name, owned_by
from .children.secrets import app_secrets
from .children.worker import worker_name
from .keyset_step import KeysResult, reconcile_keys
from .kube import Kube, KubeError
from .migration_policy import NEEDS_APPROVAL
from .migrations import GateResult, full_state, gate
from .model import SpecError, Storefront
from .queue_step import QueueResult, observe_queue
from .redis_wiring import RedisResult, reconcile_redis
from .selector_change import release_for_new_selector
from .settings import KIND, Settings
from .status import DEGRADED, KEYS, MIGRATIONS, PROGRESSING, READY, REDIS, Conditions, status_changed, utcnow

log = logging.getLogger("storefront_operator.reconcile")


@dataclass
class Outcome:
    ready: bool
    requeue_after: float  # seconds until the next reconcile is due even without a change
    status: dict[str, Any]


def reconcile(kube: Kube, namespace: str, name: str, settings: Settings, now: datetime | None = None) -> Outcome | None:
    """Reconciles the named Storefront; None when it no longer exists."""
    started = time.monotonic()
    with tracing.span("reconcile Storefront", **{"k8s.namespace.name": namespace, "storefront.name": name}):
        body = kube.get(KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            tracing.set_attributes(**{"storefront.result": "gone"})
            return None
        meta = body["metadata"]
        tracing.set_attributes(**{"storefront.uid": meta.get("uid"), "storefront.generation": meta.get("generation"),
                                  "storefront.version": (body.get("spec") or {}).get("version")})
        try:
            outcome = _reconcile(kube, body, settings, now or utcnow())
            result = "ready" if outcome.ready else "not_ready"
            metrics.RECONCILES.labels(result).inc()
            tracing.set_attributes(**{"storefront.result": result, "storefront.requeue_seconds": outcome.requeue_after})
            return outcome
        except Exception:
            metrics.RECONCILES.labels("error").inc()
            raise
        finally:
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)


def _reconcile(kube: Kube, body: dict[str, Any], settings: Settings, now: datetime) -> Outcome:
    meta = body["metadata"]
    generation = int(meta.get("generation", 1))
    old_status = body.get("status") or {}
    conditions = Conditions(old_status.get("conditions"), generation, now)
    try:
        sf = Storefront.from_body(body)
    except (SpecError, KeyError, TypeError, ValueError) as exc:
        return _invalid_spec(kube, body, conditions, exc, settings)

    if sf.spec.pause:
        conditions.set(PROGRESSING, False, "Paused", "spec.pause is set: children are not reconciled")
        status = {"observedGeneration": generation, "conditions": conditions.as_list()}
        _write_status(kube, sf, old_status, status)
        return Outcome(conditions.is_true(READY), settings.resync_seconds, status)

    _ensure_app_secrets(kube, sf)
    keys = _step(lambda: reconcile_keys(kube, sf, settings, now), "keys")
    redis = _step(lambda: reconcile_redis(kube, sf, settings), "redis")
    if isinstance(redis, RedisResult):
        changes = [a for a in redis.actions if not a.startswith("skipped")]
        if changes:
            events.post(kube, sf, "RedisClusterWired", "; ".join(changes), warning=not redis.ready)
    db_problem = _database_problem(kube, sf)
    if db_problem:
        image, version = sf.status.get("image"), sf.status.get("version")
        rollout = GateResult(image, version, ("False", db_problem[0], db_problem[1]),
                             migration=sf.status.get("migration") or {}, schema_revision=sf.status.get("schemaRevision"))
        events.post(kube, sf, db_problem[0], db_problem[1], warning=True)
    else:
        rollout = _step(lambda: gate(kube, sf, settings, now), "migrations")

    cluster_nodes = redis.nodes if isinstance(redis, RedisResult) else list(sf.status.get("redisNodes") or [])
    image = rollout.image if isinstance(rollout, GateResult) else sf.status.get("image")
    version = rollout.version if isinstance(rollout, GateResult) else sf.status.get("version")
    with tracing.span("reconcile step apply"):
        apply_failures = _apply_children(kube, sf, image, version, cluster_nodes)
    if apply_failures:
        events.post(kube, sf, "ApplyFailed", "; ".join(apply_failures), warning=True)
    deployment = kube.get("Deployment", sf.namespace, sf.name)
    worker = kube.get("Deployment", sf.namespace, worker_name(sf)) if sf.spec.worker.enabled else None
    queue = observe_queue(kube, sf, cluster_nodes, settings)

    status, ready, requeue = _assemble_status(sf, generation, conditions, keys, redis, rollout, deployment,
                                              image, version, cluster_nodes, settings, now, apply_failures, worker)
    status.update(queue.status(old_status.get("queue"), now, settings.resync_seconds))
    _report_queue(kube, sf, old_status, queue)
    _write_status(kube, sf, old_status, status)
    metrics.READY.labels(sf.namespace, sf.name).set(1 if ready else 0)
    for item in status.get("conditions") or []:
        metrics.CONDITION.labels(sf.namespace, sf.name, item["type"]).set(1 if item["status"] == "True" else 0)
    return Outcome(ready, requeue, status)


def _report_queue(kube: Kube, sf: Storefront, old_status: dict[str, Any], queue: QueueResult) -> None:
    if queue.stats is None:
        return
    stats = queue.stats
    if stats.lag is not None:
        metrics.QUEUE_LAG.labels(sf.namespace, sf.name).set(stats.lag)
    metrics.QUEUE_PENDING.labels(sf.namespace, sf.name).set(stats.pending)
    metrics.QUEUE_DEAD_LETTERS.labels(sf.namespace, sf.name).set(stats.dead_letters)
    before = int(((old_status.get("queue") or {}).get("deadLetters")) or 0)
    if stats.dead_letters > before:
        events.post(kube, sf, "EventsDeadLettered",
                    f"{stats.dead_letters - before} event(s) moved to the dead-letter stream ({stats.dead_letters} in all); "
                    "see GET /webhooks/{id}/deliveries", warning=True)


def _step(fn, stage: str):
    """Runs one step; an error becomes that step's condition instead of stopping the others."""
    with tracing.span(f"reconcile step {stage}"):
        try:
            return fn()
        except (SpecError, KubeError, OSError, ValueError) as exc:
            metrics.FAILURES.labels(stage).inc()
            log.warning("%s step failed: %s", stage, exc)
            tracing.set_attributes(**{"storefront.step_error": f"{type(exc).__name__}: {exc}"[:300]})
            return exc


def _reason(exc: Exception, default: str) -> str:
    return exc.reason if isinstance(exc, SpecError) else default


def rolled_out(deployment: dict[str, Any] | None) -> bool:
    """The Deployment's controller has seen its latest spec and every replica runs it, available."""
    if not deployment:
        return False
    dep_status = deployment.get("status") or {}
    want = (deployment.get("spec") or {}).get("replicas", 1)
    return dep_status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0) \
        and dep_status.get("updatedReplicas", 0) >= want and dep_status.get("availableReplicas", 0) >= want \
        and dep_status.get("replicas", 0) == dep_status.get("updatedReplicas", 0)


def _assemble_status(sf, generation, conditions, keys, redis, rollout, deployment, image, version, cluster_nodes,
                     settings, now, apply_failures=(), worker=None):
    requeue = settings.resync_seconds
    if isinstance(keys, KeysResult):
        conditions.set(KEYS, keys.ready, keys.reason, keys.message)
        if keys.next_change:
            requeue = min(requeue, max(0.5, (keys.next_change - now).total_seconds()))
    else:
        conditions.set(KEYS, False, _reason(keys, "KeysetError"), str(keys))
    if isinstance(redis, RedisResult):
        conditions.set(REDIS, redis.ready, redis.reason, redis.message)
    else:
        conditions.set(REDIS, False, _reason(redis, "RedisError"), str(redis))
    if isinstance(rollout, GateResult):
        conditions.set(MIGRATIONS, *rollout.condition)
        if rollout.retry_at:
            requeue = min(requeue, max(0.5, (rollout.retry_at - now).total_seconds()))
    else:
        conditions.set(MIGRATIONS, False, _reason(rollout, "MigrationError"), str(rollout))

    dep_status = (deployment or {}).get("status") or {}
    want = ((deployment or {}).get("spec") or {}).get("replicas", 1) if deployment else 0
    api_rolled_out = rolled_out(deployment)
    worker_status = (worker or {}).get("status") or {}
    worker_wanted = sf.spec.worker.enabled
    worker_rolled_out = not worker_wanted or (rolled_out(worker) and _runs(worker, version))
    migrating = isinstance(rollout, GateResult) and rollout.in_progress
    target_live = (image, version) == (sf.spec.image, sf.spec.version)

    override = rollout.progressing if isinstance(rollout, GateResult) else None
    if migrating:
        conditions.set(PROGRESSING, True, "Migrating", f"migrating the database for version {sf.spec.version}")
    elif override is not None and not override[0]:
        conditions.set(PROGRESSING, *override)  # e.g. a plan held for approval: the old version serves
    elif deployment is None and conditions.get(MIGRATIONS)["status"] == "False":
        conditions.set(PROGRESSING, False, "Blocked", conditions.get(MIGRATIONS)["message"])
    elif deployment is None:
        conditions.set(PROGRESSING, True, "WaitingForDeployment", "the Deployment is not created yet")
    elif not api_rolled_out:
        conditions.set(PROGRESSING, True, "RollingOut",
                       f"{dep_status.get('availableReplicas', 0)}/{want} replicas of {version} available")
    elif not worker_rolled_out:
        worker_want = ((worker or {}).get("spec") or {}).get("replicas", 1)
        conditions.set(PROGRESSING, True, "RollingOutWorkers",
                       f"{worker_status.get('availableReplicas', 0)}/{worker_want} workers of {version} available")
    elif override is not None:
        conditions.set(PROGRESSING, *override)  # post-deployment revisions after the rollout
    else:
        conditions.set(PROGRESSING, False, "RolloutComplete", f"version {version} is rolled out")

    # A plan waiting for approval is a decision to make, not a failure.
    problems = [f"{t}: {conditions.get(t)['message']}" for t in (KEYS, REDIS, MIGRATIONS)
                if conditions.get(t)["status"] == "False" and conditions.get(t)["reason"] != NEEDS_APPROVAL]
    if apply_failures:
        conditions.set(DEGRADED, True, "ApplyFailed", "; ".join(apply_failures + problems))
    elif problems:
        conditions.set(DEGRADED, True, "ComponentFailing", "; ".join(problems))
    else:
        conditions.set(DEGRADED, False, "AsExpected", "")

    ready = all(conditions.is_true(t) for t in (KEYS, REDIS, MIGRATIONS)) and api_rolled_out and worker_rolled_out \
        and target_live and not apply_failures
    if ready:
        conditions.set(READY, True, "Available", f"version {version} serves with {dep_status.get('readyReplicas', 0)} ready replicas")
    else:
        waiting = [t for t in (KEYS, REDIS, MIGRATIONS) if not conditions.is_true(t)]
        if not api_rolled_out:
            waiting.append("Deployment")
        if not worker_rolled_out:
            waiting.append("worker Deployment")
        if not target_live and not waiting:
            waiting.append("rollout of the desired version")
        conditions.set(READY, False, "NotReady", "waiting for " + ", ".join(waiting))

    status: dict[str, Any] = {
        "observedGeneration": generation, "conditions": conditions.as_list(),
        "image": image, "version": version, "redisNodes": cluster_nodes,
        "replicas": dep_status.get("replicas", 0), "readyReplicas": dep_status.get("readyReplicas", 0),
        "worker": {"replicas": worker_status.get("replicas", 0), "readyReplicas": worker_status.get("readyReplicas", 0)}
        if worker_wanted else None,
    }
    if isinstance(keys, KeysResult):
        status.update(activeKid=keys.active_kid, lastKeyRotation=keys.last_rotation)
    if isinstance(rollout, GateResult):
        status["migration"] = full_state(rollout.migration) if rollout.migration else None
        if rollout.schema_revision:
            status["schemaRevision"] = rollout.schema_revision
    if not ready and not migrating:
        requeue = min(requeue, max(1.0, settings.resync_seconds / 3))
    return status, ready, requeue


def _apply_children(kube: Kube, sf: Storefront, image: str | None, version: str | None, nodes: list[str]) -> list[str]:
    """Applies every child; one that fails is reported and does not stop the others."""
    failures: list[str] = []
    wanted = desired_children(sf, image, version, nodes)
    if sf.spec.autoscaling is not None:
        _hand_replicas_to_hpa(kube, sf, sf.name)
    if sf.spec.worker.enabled and sf.spec.worker.autoscaling is not None:
        _hand_replicas_to_hpa(kube, sf, worker_name(sf))
    for child in wanted:
        try:
            if not _apply_child(kube, sf, child):
                failures.append(f"Deployment {child['metadata']['name']}: being replaced for its new selector, "
                                "waiting for the garbage collector to release its ReplicaSets")
        except KubeError as exc:
            metrics.FAILURES.labels("apply").inc()
            log.warning("applying %s %s/%s failed: %s", child["kind"], sf.namespace, child["metadata"]["name"], exc)
            failures.append(f"{child['kind']} {child['metadata']['name']}: {exc.details.get('message', exc)}")
    present = {(c["kind"], c["metadata"]["name"]) for c in wanted}
    for child in optional_children(sf):
        if child.wanted or (child.kind, child.name) in present:
            continue
        try:
            existing = kube.get(child.kind, sf.namespace, child.name)
            if existing and owned_by(existing, sf.uid):
                kube.delete(child.kind, sf.namespace, child.name)
        except KubeError as exc:
            failures.append(f"removing {child.kind} {child.name}: {exc.details.get('message', exc)}")
    return failures


def _apply_child(kube: Kube, sf: Storefront, child: dict[str, Any]) -> bool:
    """Applies ``child``; False while a Deployment whose immutable selector changed is still
    being released. Only a refused apply (422) looks at the selector: no extra read per reconcile."""
    try:
        kube.apply(child)
        return True
    except KubeError as exc:
        if child["kind"] != "Deployment" or exc.status != 422:
            raise
        released = release_for_new_selector(kube, child, sf.uid)
        if released is None:  # refused for another reason
            raise
    if not released:
        return False
    events.post(kube, sf, "DeploymentReplaced",
                f"Deployment {child['metadata']['name']} recreated for its narrower selector; "
                "its pods were kept and adopted")
    kube.apply(child)
    return True


def _runs(deployment: dict[str, Any] | None, version: str | None) -> bool:
    labels = ((((deployment or {}).get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    return bool(version) and labels.get("app.kubernetes.io/version") == (version or "")[:63]


HANDOVER_MANAGER = "storefront-operator-hpa-handover"


def _hand_replicas_to_hpa(kube: Kube, sf: Storefront, name: str) -> None:
    """When autoscaling is switched on, the operator stops setting spec.replicas. Dropped from
    our apply while we still own it, the field would be removed and reset to 1 before the HPA
    acts; so a separate field manager first takes it over at its current value."""
    dep = kube.get("Deployment", sf.namespace, name)
    if dep is None:
        return
    owns_replicas = any(
        entry.get("manager") == kube.field_manager and "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
        for entry in dep["metadata"].get("managedFields") or [])
    if not owns_replicas:
        return
    handover = Kube(kube.api, field_manager=HANDOVER_MANAGER)
    handover.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": sf.namespace},
                    "spec": {"replicas": dep["spec"].get("replicas", 1)}})


def _ensure_app_secrets(kube: Kube, sf: Storefront) -> None:
    if kube.get("Secret", sf.namespace, app_secrets_name(sf)) is not None:
        return  # created once, never overwritten
    try:
        kube.create(app_secrets(sf))
        events.post(kube, sf, "AppSecretsCreated", f"generated the PII encryption and blind-index keys in {app_secrets_name(sf)}")
    except KubeError as exc:
        if not exc.conflict:
            raise


def _database_problem(kube: Kube, sf: Storefront) -> tuple[str, str] | None:
    """A database Secret the pods would fail to start without: the rollout waits for it."""
    refs = [("Database", sf.spec.database, "spec.database.secretRef")]
    if sf.spec.read_replica is not None:
        refs.append(("ReadReplica", sf.spec.read_replica, "spec.database.readReplicaSecretRef"))
    for what, ref, field in refs:
        secret = kube.get("Secret", sf.namespace, ref.name)
        if secret is None:
            return f"{what}SecretNotFound", f"Secret {ref.name} ({field}) does not exist"
        if ref.key not in (secret.get("data") or {}):
            return f"{what}SecretKeyMissing", f"Secret {ref.name} ({field}) has no key {ref.key}"
    return None


def _invalid_spec(kube: Kube, body: dict[str, Any], conditions: Conditions, exc: Exception, settings: Settings) -> Outcome:
    reason = exc.reason if isinstance(exc, SpecError) else "InvalidSpec"
    message = str(exc) or exc.__class__.__name__
    meta = body["metadata"]
    conditions.set(READY, False, reason, message)
    conditions.set(DEGRADED, True, reason, message)
    conditions.set(PROGRESSING, False, reason, "fix the spec to continue")
    status = {"observedGeneration": int(meta.get("generation", 1)), "conditions": conditions.as_list()}
    stub = Storefront(meta["name"], meta["namespace"], meta["uid"], int(meta.get("generation", 1)), None)  # type: ignore[arg-type]
    events.post(kube, stub, reason, message, warning=True)
    _write_status(kube, stub, body.get("status") or {}, status)
    return Outcome(False, settings.resync_seconds, status)


def _write_status(kube: Kube, sf: Storefront, old: dict[str, Any], new: dict[str, Any]) -> None:
    if not status_changed(old, new):
        return  # unchanged: writing would only wake every watcher for nothing
    kube.merge_patch(KIND, sf.namespace, sf.name, {"status": new}, subresource="status")
    summary = {c["type"]: f"{c['status']}/{c['reason']}" for c in new.get("conditions") or []}
    log.info("status updated", extra={"storefront": f"{sf.namespace}/{sf.name}", "generation": new.get("observedGeneration"),
                                      "version": new.get("version"), "conditions": summary})
