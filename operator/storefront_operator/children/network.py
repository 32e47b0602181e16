"""Service, Ingress and NetworkPolicy."""

from __future__ import annotations

from typing import Any

from ..model import Storefront
from .meta import APP_PORT, api_selector_labels, metadata, selector_labels


def service(sf: Storefront) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata(sf, sf.name),
            "spec": {"type": "ClusterIP", "selector": api_selector_labels(sf),
                     "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}


def ingress(sf: Storefront) -> dict[str, Any] | None:
    spec = sf.spec.ingress
    if spec is None:
        return None
    body: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata(sf, sf.name),
        "spec": {"rules": [{"host": spec.host, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": sf.name, "port": {"name": "http"}}}}]}}]},
    }
    if spec.class_name:
        body["spec"]["ingressClassName"] = spec.class_name
    if spec.tls_secret_name:
        body["spec"]["tls"] = [{"hosts": [spec.host], "secretName": spec.tls_secret_name}]
    return body


def network_policy(sf: Storefront) -> dict[str, Any]:
    # Only the HTTP port is reachable; the ingress controller's namespace is not known here,
    # so the source is not narrowed. Egress stays open: database and Redis may live anywhere.
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": metadata(sf, sf.name),
            "spec": {"podSelector": {"matchLabels": selector_labels(sf)}, "policyTypes": ["Ingress"],
                     "ingress": [{"ports": [{"protocol": "TCP", "port": APP_PORT}]}]}}
