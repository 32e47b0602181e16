"""The migration Jobs: same image as the app, `python -m app.cli migrate` (or its plan)."""

from __future__ import annotations

import hashlib
from typing import Any

from ..model import Storefront
from .meta import metadata, restricted_container_security, restricted_pod_security

TARGET_ANNOTATION = "platform.storefront.dev/migration-target"
PHASE_ANNOTATION = "platform.storefront.dev/migration-phase"

# What each kind of migration Job runs (docs/operator.md): a first install migrates to head;
# an upgrade first plans (changes nothing), then runs the revisions before the first
# post-deployment one, and once the new version is fully rolled out, the rest.
INSTALL, PLAN, MIGRATE, POST_DEPLOYMENT = "install", "plan", "migrate", "postdeploy"
PHASE_ARGS = {INSTALL: ["migrate"], PLAN: ["migrate", "--plan"], MIGRATE: ["migrate", "--pre-deployment"],
              POST_DEPLOYMENT: ["migrate"]}
# The Job name's word per kind; install and migrate share one, as before there were plans.
PHASE_WORD = {INSTALL: "migrate", PLAN: "plan", MIGRATE: "migrate", POST_DEPLOYMENT: "postmig"}


def target_hash(target: str) -> str:
    return hashlib.sha256(target.encode()).hexdigest()[:10]


def migration_job_name(sf: Storefront, target: str, attempt: int, phase: str = INSTALL) -> str:
    """Deterministic, so a restarted operator finds the Job it started instead of starting another."""
    return f"{sf.name[:40]}-{PHASE_WORD[phase]}-{target_hash(target)}-{attempt}"


def migration_job(sf: Storefront, attempt: int, phase: str = INSTALL) -> dict[str, Any]:
    spec = sf.spec
    db = spec.database
    meta = metadata(sf, migration_job_name(sf, spec.target, attempt, phase), component="migrations",
                    annotations={TARGET_ANNOTATION: spec.target, PHASE_ANNOTATION: phase})
    meta["labels"]["app.kubernetes.io/version"] = spec.version[:63]
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": {
            "backoffLimit": spec.migrations.backoff_limit,
            "activeDeadlineSeconds": spec.migrations.timeout_seconds,
            "template": {
                "metadata": {"labels": meta["labels"]},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": sf.name,
                    "automountServiceAccountToken": False,
                    # The kubelet's Docker-link variables for every Service (STOREFRONT_PORT=tcp://...
                    # for a Service named "storefront") would land in the app's settings namespace.
                    "enableServiceLinks": False,
                    "securityContext": restricted_pod_security(),
                    "containers": [{
                        "name": "migrate", "image": spec.image, "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-m", "app.cli", *PHASE_ARGS[phase]],
                        "env": [{"name": "STOREFRONT_DATABASE_URL",
                                 "valueFrom": {"secretKeyRef": {"name": db.name, "key": db.key}}}],
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
                        "securityContext": restricted_container_security(),
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir: the root is read-only
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }
