"""Fixtures for the operator tests: the CRD installed in the harness's API server, API clients."""

from __future__ import annotations

import pytest
import yaml
from sfop_support import CRD_FILE, PEERING_FILE

from storefront_harness import ControlPlane


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> ControlPlane:
    """The Storefront and Kopf peering CRDs, applied and Established."""
    for path in (CRD_FILE, PEERING_FILE):
        control_plane.kubectl("apply", "--server-side", "-f", str(path))
    for doc in yaml.safe_load_all(CRD_FILE.read_text() + "\n---\n" + PEERING_FILE.read_text()):
        if doc:
            control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{doc['metadata']['name']}")
    return control_plane


@pytest.fixture(scope="session")
def kube(crds: ControlPlane):
    """The operator's API wrapper, authenticated as the harness admin."""
    from storefront_operator.kube import Kube
    return Kube.from_kubeconfig(str(crds.kubeconfig))
