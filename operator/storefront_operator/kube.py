"""A thin, synchronous Kubernetes REST client: get/list/create/patch/delete and server-side apply.

It talks to known paths directly (no discovery round-trips) and reuses the official client
only for configuration and authentication (kubeconfig, in-cluster token).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import kubernetes
from kubernetes.client import ApiClient, Configuration

from .settings import FIELD_MANAGER, GROUP, PLURAL, VERSION

# kind -> (apiVersion, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("v1", "namespaces", False),
    "ConfigMap": ("v1", "configmaps", True),
    "Secret": ("v1", "secrets", True),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "Service": ("v1", "services", True),
    "Endpoints": ("v1", "endpoints", True),
    "Pod": ("v1", "pods", True),
    "Event": ("v1", "events", True),
    "Deployment": ("apps/v1", "deployments", True),
    "Job": ("batch/v1", "jobs", True),
    "Ingress": ("networking.k8s.io/v1", "ingresses", True),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies", True),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "horizontalpodautoscalers", True),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets", True),
    "EndpointSlice": ("discovery.k8s.io/v1", "endpointslices", True),
    "Storefront": (f"{GROUP}/{VERSION}", PLURAL, True),
    "ClusterKopfPeering": ("kopf.dev/v1", "clusterkopfpeerings", False),
    "KopfPeering": ("kopf.dev/v1", "kopfpeerings", True),
}

TIMEOUT = (5, 30)  # connect, read: a hung API call must not hold a worker forever


class KubeError(Exception):
    def __init__(self, status: int, method: str, path: str, body: str):
        self.status = status
        try:
            self.details = json.loads(body)
        except ValueError:
            self.details = {"message": body}
        super().__init__(f"{method} {path}: HTTP {status}: {self.details.get('message', '')}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


def path_for(kind: str, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
    try:
        api_version, plural, namespaced = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}") from None
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    if name:
        base += f"/{name}"
    if subresource:
        base += f"/{subresource}"
    return base


@dataclass
class Kube:
    api: ApiClient
    field_manager: str = FIELD_MANAGER

    @classmethod
    def from_kubeconfig(cls, path: str | None = None) -> Kube:
        config = Configuration()
        kubernetes.config.load_kube_config(config_file=path, client_configuration=config)
        return cls(ApiClient(config))

    @classmethod
    def auto(cls) -> Kube:
        """In-cluster credentials when running in a pod, else the kubeconfig ($KUBECONFIG)."""
        config = Configuration()
        try:
            kubernetes.config.load_incluster_config(client_configuration=config)
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config(client_configuration=config)
        return cls(ApiClient(config))

    # -- transport -----------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
                content_type: str = "application/json") -> dict[str, Any]:
        if query:
            path = f"{path}?{urlencode(query)}"
        headers = {"Accept": "application/json", "Content-Type": content_type}
        # JSON content types are serialised by the client; apply-patch+yaml is sent as text (JSON is YAML).
        payload = json.dumps(body) if body is not None and "yaml" in content_type else body
        _, url, headers, payload, _ = self.api.param_serialize(
            method, path, header_params=headers, body=payload, auth_settings=["BearerToken"])
        response = self.api.call_api(method, url, header_params=headers, body=payload, _request_timeout=TIMEOUT)
        data = response.read()
        if response.status >= 400:
            raise KubeError(response.status, method, path, data.decode(errors="replace"))
        return json.loads(data) if data else {}

    # -- verbs -----------------------------------------------------------------------------
    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", path_for(kind, namespace, name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def list(self, kind: str, namespace: str | None, label_selector: str | None = None) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        return self.request("GET", path_for(kind, namespace), query=query).get("items", [])

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", path_for(obj["kind"], obj["metadata"].get("namespace")), obj)

    def apply(self, obj: dict[str, Any], subresource: str | None = None) -> dict[str, Any]:
        """Server-side apply as the operator's field manager, taking over conflicting fields."""
        meta = obj["metadata"]
        return self.request("PATCH", path_for(obj["kind"], meta.get("namespace"), meta["name"], subresource), obj,
                            query={"fieldManager": self.field_manager, "force": "true"},
                            content_type="application/apply-patch+yaml")

    def merge_patch(self, kind: str, namespace: str | None, name: str, patch: dict[str, Any],
                    subresource: str | None = None) -> dict[str, Any]:
        return self.request("PATCH", path_for(kind, namespace, name, subresource), patch,
                            content_type="application/merge-patch+json")

    def delete(self, kind: str, namespace: str | None, name: str, propagation: str = "Background") -> bool:
        try:
            self.request("DELETE", path_for(kind, namespace, name), {"propagationPolicy": propagation})
            return True
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
