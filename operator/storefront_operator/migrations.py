"""Migrations gate rollouts: a new image or version runs a migration Job first, and the
Deployment gets the new image only after that Job succeeded.

An upgrade goes through phases (``status.migration.phase``): ``Plan``, a Job that reports what
the pending revisions would do, classified (app/core/migration_plan.py), without doing it; the
policy (migration_policy.py) decides on that plan, and a held plan waits for approval in the
spec while the old version serves; ``Migrate``, a Job that runs the revisions before the first
post-deployment one; then the rollout; then ``PostDeployment``, a Job that runs the rest once
every pod of the old version is gone. A first install migrates to head in one Job.

State lives in ``status.migration`` and in deterministic Job names, so a restarted operator
adopts the Job it started rather than starting a second one. A failed Job is retried with
exponential backoff, never in a hot loop; meanwhile the old version keeps serving.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import events, metrics
from .children.jobs import INSTALL, MIGRATE, PLAN, POST_DEPLOYMENT, TARGET_ANNOTATION, migration_job, migration_job_name
from .children.meta import metadata, owned_by
from .keys import parse_stamp, stamp
from .kube import Kube, KubeError
from .migration_policy import NEEDS_APPROVAL, PolicyInput, decide
from .model import Storefront
from .settings import MANAGED_BY, Settings

log = logging.getLogger("storefront_operator.migrations")


@dataclass
class GateResult:
    image: str | None  # what the Deployment may run; None: nothing migrated yet
    version: str | None
    condition: tuple[str, str, str]  # status, reason, message
    migration: dict[str, Any] = field(default_factory=dict)
    schema_revision: str | None = None
    in_progress: bool = False
    retry_at: datetime | None = None
    # Overrides the Progressing condition once the Deployment is rolled out (or while a plan is
    # held): (status, reason, message).
    progressing: tuple[bool, str, str] | None = None


def job_outcome(job: dict[str, Any]) -> tuple[str, str]:
    """('running'|'succeeded'|'failed', message) from the Job's terminal conditions."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return "succeeded", cond.get("message") or ""
        if cond.get("type") == "Failed":
            detail = cond.get("message") or ""
            return "failed", f"{cond.get('reason', 'Failed')}: {detail}".rstrip(": ")
    return "running", ""


def backoff(settings: Settings, failures: int) -> timedelta:
    seconds = settings.migration_backoff_seconds * (2 ** max(0, failures - 1))
    return timedelta(seconds=min(seconds, settings.migration_backoff_cap_seconds))


def _termination_messages(kube: Kube, namespace: str, job_name: str, succeeded: bool) -> list[str]:
    """What `app.cli migrate` wrote to /dev/termination-log (its last line), from the Job's pods
    that ended with (succeeded) or without (failed) success."""
    messages = []
    for pod in kube.list("Pod", namespace, label_selector=f"batch.kubernetes.io/job-name={job_name}"):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated") or {}
            message = (terminated.get("message") or "").strip()
            if message and "exitCode" in terminated and (terminated["exitCode"] == 0) == succeeded:
                messages.append(message.splitlines()[-1])
    return messages


def schema_revision(kube: Kube, namespace: str, job_name: str) -> str | None:
    """The revision the migration reached, when a pod reported it."""
    messages = _termination_messages(kube, namespace, job_name, succeeded=True)
    return messages[0][:128] if messages else None


def failure_detail(kube: Kube, namespace: str, job_name: str) -> str | None:
    """Why the migration itself failed (e.g. "migration failed: OperationalError: ..."), when reported."""
    messages = _termination_messages(kube, namespace, job_name, succeeded=False)
    return messages[-1][:300] if messages else None


def deployed(sf: Storefront, kube: Kube) -> tuple[str | None, str | None]:
    """What runs now: status first; else the Deployment itself (status may have been reset)."""
    if sf.status.get("image") and sf.status.get("version"):
        return sf.status["image"], sf.status["version"]
    dep = kube.get("Deployment", sf.namespace, sf.name)
    if dep:
        containers = dep["spec"]["template"]["spec"]["containers"]
        version = (dep["metadata"].get("labels") or {}).get("app.kubernetes.io/version")
        if containers and version:
            return containers[0]["image"], version
    return None, None


# Phases as status.migration.phase shows them.
PHASE_NAMES = {PLAN: "Plan", MIGRATE: "Migrate", INSTALL: "Migrate", POST_DEPLOYMENT: "PostDeployment"}
DONE = "Done"
# How often the post-deployment phase looks whether the old pods are gone (their exit wakes nobody).
POST_DEPLOYMENT_POLL_SECONDS = 3.0


# Every key status.migration may hold: a state without one of them writes it as null, since the
# status is merge-patched and a key merely left out would keep an earlier target's value.
STATE_KEYS = ("target", "attempt", "jobName", "lastFailureTime", "lastFailureReason", "phase", "decision", "plan")


def full_state(state: dict[str, Any]) -> dict[str, Any]:
    return {key: state.get(key) for key in STATE_KEYS}


def plan_config_map_name(sf: Storefront) -> str:
    return f"{sf.name}-migration-plan"


def reported_plan(kube: Kube, namespace: str, job_name: str) -> dict[str, Any] | None:
    """The plan the plan Job's pod wrote as its termination message (one JSON line)."""
    for message in _termination_messages(kube, namespace, job_name, succeeded=True):
        try:
            plan = json.loads(message)
        except ValueError:
            continue
        if isinstance(plan, dict) and isinstance(plan.get("revisions"), list):
            return plan
    return None


def _status_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan as status carries it: flagged operations only (the ConfigMap has the rest)."""
    keep = ("revision", "safety", "postDeployment", "destructive", "locking")
    return {"from": plan.get("from"), "to": plan.get("to"), "preDeploymentTarget": plan.get("preDeploymentTarget"),
            "revisions": [{k: r[k] for k in keep if k in r} for r in plan.get("revisions") or []][:100]}


def _publish_plan(kube: Kube, sf: Storefront, plan: dict[str, Any]) -> None:
    """The full plan, safe operations included, where `kubectl get cm` finds it."""
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": metadata(sf, plan_config_map_name(sf), component="migrations"),
                "data": {"target": sf.spec.target, "plan.json": json.dumps(plan, indent=2)}})


def old_version_gone(kube: Kube, sf: Storefront, image: str, version: str) -> str | None:
    """None once every Deployment of the Storefront (the API's, and any other it owns) is rolled
    out and no pod of an older image or version remains, terminating ones included; else what
    is still waiting."""
    selector = f"app.kubernetes.io/instance={sf.name},app.kubernetes.io/managed-by={MANAGED_BY}"
    deployments = [d for d in kube.list("Deployment", sf.namespace, label_selector=selector)
                   if owned_by(d, sf.uid)]
    if not deployments:
        return "no Deployment yet"
    for dep in deployments:
        st, want = dep.get("status") or {}, dep["spec"].get("replicas", 1)
        if st.get("observedGeneration", 0) < dep["metadata"].get("generation", 0) or st.get("updatedReplicas", 0) < want \
                or st.get("availableReplicas", 0) < want or st.get("replicas", 0) != st.get("updatedReplicas", 0):
            return f"Deployment {dep['metadata']['name']} is still rolling out"
    for pod in kube.list("Pod", sf.namespace, label_selector=f"{selector},app.kubernetes.io/component!=migrations"):
        containers = pod["spec"]["containers"]
        pod_version = (pod["metadata"].get("labels") or {}).get("app.kubernetes.io/version", version[:63])
        if containers[0]["image"] != image or pod_version != version[:63]:
            return f"pod {pod['metadata']['name']} of the old version still exists"
    return None


def gate(kube: Kube, sf: Storefront, settings: Settings, now: datetime) -> GateResult:
    spec = sf.spec
    image, version = deployed(sf, kube)
    revision = sf.status.get("schemaRevision")
    if not spec.migrations.enabled:
        return GateResult(spec.image, spec.version, ("True", "MigrationsDisabled", "migrations are disabled in the spec"),
                          schema_revision=revision)
    state = dict(sf.status.get("migration") or {})
    if (image, version) == (spec.image, spec.version):
        if state.get("target") == spec.target and state.get("phase") == PHASE_NAMES[POST_DEPLOYMENT]:
            return _post_deployment(kube, sf, settings, now, state, revision)
        return GateResult(image, version, ("True", "UpToDate", f"schema migrated for version {version}"),
                          migration=sf.status.get("migration") or {}, schema_revision=revision)

    serving = image is not None
    if state.get("target") != spec.target:
        # An upgrade plans first; a first install has nothing to break and migrates at once.
        state = {"target": spec.target, "attempt": 1, "phase": PHASE_NAMES[PLAN if serving else INSTALL]}
    keep = GateResult(image, version, ("Unknown", "MigrationPending", ""), migration=state, schema_revision=revision,
                      in_progress=True)
    if state.get("phase") == PHASE_NAMES[PLAN]:
        planned = _plan_phase(kube, sf, settings, now, state, keep)
        if planned is not None:
            return planned
    phase = MIGRATE if serving else INSTALL
    return _run_job(kube, sf, settings, now, state, keep, phase, on_success=_migrated)


def _plan_phase(kube: Kube, sf: Storefront, settings: Settings, now: datetime, state: dict[str, Any],
                keep: GateResult) -> GateResult | None:
    """Runs the plan Job and applies the policy to its plan: a GateResult while planning or
    held, None once the plan may run (state moves on to Migrate)."""
    spec = sf.spec
    plan = state.get("plan")
    if plan is None:
        result = _run_job(kube, sf, settings, now, state, keep, PLAN, on_success=None)
        if result is not None:
            return result
        name = migration_job_name(sf, spec.target, int(state["attempt"]), PLAN)
        reported = reported_plan(kube, sf.namespace, name)
        if reported is None:
            return _failed(kube, sf, settings, now, state, keep, name, "the plan Job reported no plan")
        _publish_plan(kube, sf, reported)
        plan = state["plan"] = _status_plan(reported)
        flagged = [r["revision"] for r in plan["revisions"] if r.get("safety") != "safe"]
        events.post(kube, sf, "MigrationPlanned",
                    f"Job {name} planned {len(plan['revisions'])} pending revision(s) for version {spec.version}"
                    + (f"; destructive or locking: {', '.join(flagged)}" if flagged else ", all safe")
                    + f"; the full plan is in ConfigMap {plan_config_map_name(sf)}")
    decision = decide(PolicyInput(spec.migrations.policy, spec.migrations.approved_revisions, plan, serving=True))
    held_before = state.get("decision") == NEEDS_APPROVAL
    state["decision"] = decision.reason
    if not decision.allowed:
        if not held_before:
            metrics.MIGRATIONS.labels("held").inc()
        events.post(kube, sf, NEEDS_APPROVAL, decision.message, warning=True)
        keep.in_progress = False
        keep.condition = ("False", NEEDS_APPROVAL, decision.message)
        keep.progressing = (False, NEEDS_APPROVAL, decision.message)
        return keep
    events.post(kube, sf, "MigrationPlanAllowed", f"{decision.message} ({decision.reason}); migrating for version {spec.version}")
    state["phase"] = PHASE_NAMES[MIGRATE]
    return None


def _migrated(kube: Kube, sf: Storefront, state: dict[str, Any], name: str, revision: str | None) -> GateResult:
    spec = sf.spec
    metrics.MIGRATIONS.labels("succeeded").inc()
    post = [r["revision"] for r in (state.get("plan") or {}).get("revisions") or [] if r.get("postDeployment")]
    later = f"; post-deployment revisions {', '.join(post)} run once it is rolled out" if post else ""
    events.post(kube, sf, "MigrationSucceeded",
                f"Job {name} migrated the database{f' to revision {revision}' if revision else ''}; rolling out {spec.version}{later}")
    done = {**state, "jobName": name, "phase": PHASE_NAMES[POST_DEPLOYMENT] if post else DONE}
    return GateResult(spec.image, spec.version, ("True", "MigrationSucceeded", f"migrated for version {spec.version}"),
                      migration=done, schema_revision=revision)


def _post_deployment(kube: Kube, sf: Storefront, settings: Settings, now: datetime, state: dict[str, Any],
                     revision: str | None) -> GateResult:
    spec = sf.spec
    post = [r["revision"] for r in (state.get("plan") or {}).get("revisions") or [] if r.get("postDeployment")]
    keep = GateResult(spec.image, spec.version, ("True", "PostDeploymentPending", ""), migration=state,
                      schema_revision=revision)
    name = migration_job_name(sf, spec.target, int(state.get("attempt") or 1), POST_DEPLOYMENT)
    if kube.get("Job", sf.namespace, name) is None and not state.get("lastFailureTime"):
        waiting = old_version_gone(kube, sf, spec.image, spec.version)
        if waiting is not None:
            message = f"post-deployment revisions {', '.join(post)} wait for the rollout to finish: {waiting}"
            keep.condition = ("True", "PostDeploymentPending", message)
            keep.progressing = (True, "PostDeploymentPending", message)
            keep.retry_at = now + timedelta(seconds=POST_DEPLOYMENT_POLL_SECONDS)
            return keep

    def finished(kube: Kube, sf: Storefront, state: dict[str, Any], name: str, reached: str | None) -> GateResult:
        metrics.MIGRATIONS.labels("succeeded").inc()
        events.post(kube, sf, "PostDeploymentMigrationSucceeded",
                    f"Job {name} ran the post-deployment revisions {', '.join(post)}"
                    f"{f'; the database is at revision {reached}' if reached else ''}")
        return GateResult(spec.image, spec.version, ("True", "MigrationSucceeded", f"migrated for version {spec.version}, "
                          "post-deployment revisions included"), migration={**state, "jobName": name, "phase": DONE},
                          schema_revision=reached)

    result = _run_job(kube, sf, settings, now, state, keep, POST_DEPLOYMENT, on_success=finished)
    if result.condition[1] == "MigrationRunning":
        result.condition = ("True", "PostDeploymentRunning", result.condition[2])
        result.progressing = (True, "PostDeploymentRunning", result.condition[2])
    elif result.condition[1] == "MigrationFailed":
        result.condition = ("False", "PostDeploymentFailed", result.condition[2])
        result.progressing = (True, "PostDeploymentFailed", result.condition[2])
    return result


def _run_job(kube: Kube, sf: Storefront, settings: Settings, now: datetime, state: dict[str, Any], keep: GateResult,
             phase: str, on_success) -> GateResult | None:
    """Starts, watches and retries (with backoff) the Job of ``phase``. Returns the GateResult
    to report, or None when the Job succeeded and ``on_success`` is None."""
    spec = sf.spec
    attempt = int(state.get("attempt") or 1)
    name = migration_job_name(sf, spec.target, attempt, phase)
    state["jobName"] = name
    what = {PLAN: "is planning the migration", POST_DEPLOYMENT: "runs the post-deployment revisions"}.get(phase, "is migrating")
    running = ("Unknown", "MigrationRunning", f"Job {name} {what} for version {spec.version}")
    job = kube.get("Job", sf.namespace, name)
    if job is None:
        failed_at = parse_stamp(state.get("lastFailureTime"))
        if failed_at is not None:
            retry_at = failed_at + backoff(settings, attempt - 1)
            if now < retry_at:
                keep.condition = ("False", "MigrationFailed",
                                  f"{state.get('lastFailureReason', 'migration failed')}; retry {attempt} at {stamp(retry_at)}")
                keep.retry_at = retry_at
                return keep
        _clean_old_jobs(kube, sf, keep_name=name)
        try:
            kube.create(migration_job(sf, attempt, phase))
            metrics.MIGRATIONS.labels("started").inc()
            events.post(kube, sf, "MigrationStarted" if phase != PLAN else "MigrationPlanStarted",
                        f"Job {name} {what} for version {spec.version}")
        except KubeError as exc:
            if not exc.conflict:
                raise
        keep.condition = running
        return keep

    outcome, detail = job_outcome(job)
    if outcome == "running":
        keep.condition = running
        return keep
    if outcome == "succeeded":
        if on_success is None:
            return None
        state.pop("lastFailureTime", None)
        state.pop("lastFailureReason", None)
        revision = schema_revision(kube, sf.namespace, name) or sf.status.get("schemaRevision")
        return on_success(kube, sf, state, name, revision)
    return _failed(kube, sf, settings, now, state, keep, name, detail or "the migration Job failed")


def _failed(kube: Kube, sf: Storefront, settings: Settings, now: datetime, state: dict[str, Any], keep: GateResult,
            name: str, reason: str) -> GateResult:
    """Record the failure once, move to the next attempt, and wait out the backoff."""
    attempt = int(state.get("attempt") or 1)
    metrics.MIGRATIONS.labels("failed").inc()
    retry_at = now + backoff(settings, attempt)
    cause = failure_detail(kube, sf.namespace, name)
    if cause:
        reason = f"{reason} ({cause})"
    state.update({"attempt": attempt + 1, "lastFailureTime": stamp(now), "lastFailureReason": reason[:512],
                  "jobName": name})
    events.post(kube, sf, "MigrationFailed",
                f"Job {name} failed ({reason}); {keep.version or 'no version'} keeps serving; retry at {stamp(retry_at)}", warning=True)
    keep.migration = state
    keep.condition = ("False", "MigrationFailed", f"{reason}; retry {attempt + 1} at {stamp(retry_at)}")
    keep.retry_at = retry_at
    return keep


def _clean_old_jobs(kube: Kube, sf: Storefront, keep_name: str) -> None:
    """Finished Jobs of earlier attempts, phases or targets go once a new one starts (their pods
    with them); the plan lives on in status and in the plan ConfigMap."""
    selector = f"app.kubernetes.io/instance={sf.name},app.kubernetes.io/component=migrations"
    for job in kube.list("Job", sf.namespace, label_selector=selector):
        name = job["metadata"]["name"]
        if name == keep_name:
            continue
        outcome, _ = job_outcome(job)
        stale_target = (job["metadata"].get("annotations") or {}).get(TARGET_ANNOTATION) != sf.spec.target
        if outcome != "running" or stale_target:
            kube.delete("Job", sf.namespace, name)
