"""Migrations gate rollouts: a new image or version runs a migration Job first, and the
Deployment gets the new image only after that Job succeeded.

State lives in ``status.migration`` and in deterministic Job names, so a restarted operator
adopts the Job it started rather than starting a second one. A failed Job is retried with
exponential backoff, never in a hot loop; meanwhile the old version keeps serving.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import events, metrics
from .children.jobs import TARGET_ANNOTATION, migration_job, migration_job_name
from .keys import parse_stamp, stamp
from .kube import Kube, KubeError
from .model import Storefront
from .settings import Settings

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
    """What `app.cli migrate` wrote to /dev/termination-log, from the Job's pods that ended
    with (succeeded) or without (failed) success."""
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


def gate(kube: Kube, sf: Storefront, settings: Settings, now: datetime) -> GateResult:
    spec = sf.spec
    image, version = deployed(sf, kube)
    revision = sf.status.get("schemaRevision")
    if not spec.migrations.enabled:
        return GateResult(spec.image, spec.version, ("True", "MigrationsDisabled", "migrations are disabled in the spec"),
                          schema_revision=revision)
    if (image, version) == (spec.image, spec.version):
        return GateResult(image, version, ("True", "UpToDate", f"schema migrated for version {version}"),
                          migration=sf.status.get("migration") or {}, schema_revision=revision)

    state = dict(sf.status.get("migration") or {})
    if state.get("target") != spec.target:
        state = {"target": spec.target, "attempt": 1}
    attempt = int(state.get("attempt") or 1)
    name = migration_job_name(sf, spec.target, attempt)
    state["jobName"] = name
    keep = GateResult(image, version, ("Unknown", "MigrationPending", ""), migration=state, schema_revision=revision,
                      in_progress=True)

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
            kube.create(migration_job(sf, attempt))
            metrics.MIGRATIONS.labels("started").inc()
            events.post(kube, sf, "MigrationStarted", f"Job {name} migrates the database for version {spec.version}")
        except KubeError as exc:
            if not exc.conflict:
                raise
        keep.condition = ("Unknown", "MigrationRunning", f"Job {name} is migrating for version {spec.version}")
        return keep

    outcome, detail = job_outcome(job)
    if outcome == "running":
        keep.condition = ("Unknown", "MigrationRunning", f"Job {name} is migrating for version {spec.version}")
        return keep
    if outcome == "succeeded":
        revision = schema_revision(kube, sf.namespace, name) or revision
        metrics.MIGRATIONS.labels("succeeded").inc()
        events.post(kube, sf, "MigrationSucceeded",
                    f"Job {name} migrated the database{f' to revision {revision}' if revision else ''}; rolling out {spec.version}")
        done = {"target": spec.target, "attempt": attempt, "jobName": name}
        return GateResult(spec.image, spec.version, ("True", "MigrationSucceeded", f"migrated for version {spec.version}"),
                          migration=done, schema_revision=revision)

    # Failed: record it once, move to the next attempt, and wait out the backoff.
    metrics.MIGRATIONS.labels("failed").inc()
    retry_at = now + backoff(settings, attempt)
    reason = detail or "the migration Job failed"
    cause = failure_detail(kube, sf.namespace, name)
    if cause:
        reason = f"{reason} ({cause})"
    state.update({"attempt": attempt + 1, "lastFailureTime": stamp(now), "lastFailureReason": reason[:512],
                  "jobName": migration_job_name(sf, spec.target, attempt + 1)})
    events.post(kube, sf, "MigrationFailed",
                f"Job {name} failed ({reason}); {version or 'no version'} keeps serving; retry at {stamp(retry_at)}", warning=True)
    keep.migration = state
    keep.condition = ("False", "MigrationFailed", f"{reason}; retry {attempt + 1} at {stamp(retry_at)}")
    keep.retry_at = retry_at
    return keep


def _clean_old_jobs(kube: Kube, sf: Storefront, keep_name: str) -> None:
    """Finished Jobs of earlier attempts or targets go once a new one starts (their pods with them)."""
    selector = f"app.kubernetes.io/instance={sf.name},app.kubernetes.io/component=migrations"
    for job in kube.list("Job", sf.namespace, label_selector=selector):
        name = job["metadata"]["name"]
        if name == keep_name:
            continue
        outcome, _ = job_outcome(job)
        stale_target = (job["metadata"].get("annotations") or {}).get(TARGET_ANNOTATION) != sf.spec.target
        if outcome != "running" or stale_target:
            kube.delete("Job", sf.namespace, name)
