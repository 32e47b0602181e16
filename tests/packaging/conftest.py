"""Fixtures of the packaging tests: the charts' CRDs installed in the harness's API server."""

from __future__ import annotations

import pytest
import yaml
from packaging_support import CRD_DIR

from storefront_harness import ControlPlane


@pytest.fixture(scope="session")
def storefront_crds(control_plane: ControlPlane) -> ControlPlane:
    """The operator chart's CRDs (Storefront, kopf peering), applied and Established, so the
    API server can validate Storefront resources and peering objects."""
    files = sorted(CRD_DIR.glob("*.yaml"))
    assert files, f"no CRDs in {CRD_DIR}"
    for path in files:
        control_plane.kubectl("apply", "--server-side", "-f", str(path))
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                                      f"crd/{doc['metadata']['name']}")
    return control_plane
