"""ServiceAccount and the app Deployment."""

from __future__ import annotations

from typing import Any

from ..keys import MOUNT_DIR, keyset_secret_name
from ..model import Storefront
from .meta import (
    APP_PORT,
    api_selector_labels,
    app_secrets_name,
    config_name,
    labels,
    metadata,
    redis_config_name,
    restricted_container_security,
    restricted_pod_security,
)

# Then uvicorn's graceful shutdown (20 s) finishes in-flight requests within the grace period.
PRE_STOP_SECONDS = 5


def service_account(sf: Storefront) -> dict[str, Any]:
    # The app never calls the Kubernetes API: no token is mounted.
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(sf, sf.name),
            "automountServiceAccountToken": False}


def _secret_env(name: str, secret: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def app_env(sf: Storefront) -> list[dict[str, Any]]:
    spec = sf.spec
    env = [_secret_env("STOREFRONT_DATABASE_URL", spec.database.name, spec.database.key)]
    if spec.read_replica:
        env.append(_secret_env("STOREFRONT_DATABASE_READ_URL", spec.read_replica.name, spec.read_replica.key))
    if spec.redis.secret_ref:
        env.append(_secret_env("STOREFRONT_REDIS_PASSWORD", spec.redis.secret_ref.name, spec.redis.secret_ref.key))
    env.append(_secret_env("STOREFRONT_PII_ENCRYPTION_KEY", app_secrets_name(sf), "pii-encryption-key"))
    env.append(_secret_env("STOREFRONT_BLIND_INDEX_KEY", app_secrets_name(sf), "blind-index-key"))
    reserved = {e["name"] for e in env}
    env += [e for e in spec.env if e["name"] not in reserved]
    return env


def http_probes() -> dict[str, Any]:
    """The API's and the worker's probes, on their port named ``http``: ``/ready`` gates traffic
    (database and Redis reachable), ``/health`` restarts a hung process, and the startup probe
    gives a cold start a minute before liveness counts."""
    return {
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5,
                           "timeoutSeconds": 3, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10,
                          "timeoutSeconds": 3, "failureThreshold": 3},
        "startupProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 2, "failureThreshold": 30},
    }


def rolling_deployment(sf: Storefront, meta: dict[str, Any], selector: dict[str, str], pod_labels: dict[str, str],
                       config_hash: str, grace_seconds: int) -> dict[str, Any]:
    """A Deployment of the Storefront's pods, containers to be added: one new pod surged at a
    time and no serving pod taken away first; restricted pods with no API token."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "selector": {"matchLabels": selector},
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {"platform.storefront.dev/config-hash": config_hash}},
                "spec": {
                    "serviceAccountName": sf.name,
                    "automountServiceAccountToken": False,
                    # The kubelet's Docker-link variables for every Service (STOREFRONT_PORT=tcp://...
                    # for a Service named "storefront") would land in the app's settings namespace.
                    "enableServiceLinks": False,
                    "securityContext": restricted_pod_security(),
                    "terminationGracePeriodSeconds": grace_seconds,
                },
            },
        },
    }


def deployment(sf: Storefront, image: str, version: str, config_hash: str) -> dict[str, Any]:
    spec = sf.spec
    pod_labels = {**labels(sf), "app.kubernetes.io/version": version[:63]}
    body = rolling_deployment(sf, metadata(sf, sf.name, labels=pod_labels), api_selector_labels(sf), pod_labels,
                              config_hash, grace_seconds=30)
    body["spec"]["template"]["spec"].update({
                    "containers": [{
                        "name": "api", "image": image, "imagePullPolicy": "IfNotPresent",
                        "ports": [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}],
                        "envFrom": [{"configMapRef": {"name": config_name(sf)}},
                                    {"configMapRef": {"name": redis_config_name(sf)}}],
                        "env": app_env(sf),
                        **http_probes(),
                        # Endpoints removal reaches every kube-proxy and ingress a moment after the
                        # pod is marked terminating: keep serving through that window, then drain.
                        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
                        "resources": spec.resources,
                        "securityContext": restricted_container_security(),
                        "volumeMounts": [{"name": "jwt-keys", "mountPath": MOUNT_DIR, "readOnly": True},
                                         {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir: the root is read-only
                    }],
                    "volumes": [
                        {"name": "jwt-keys", "secret": {"secretName": keyset_secret_name(sf.name), "defaultMode": 0o440}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
    })
    if spec.autoscaling is None:
        body["spec"]["replicas"] = spec.replicas  # with autoscaling the HPA owns the count
    return body
