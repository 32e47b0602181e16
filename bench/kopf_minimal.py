"""The smallest Kopf operator watching the same resources: the memory baseline.

It watches Storefronts, Deployments and Jobs like the real operator and does nothing, so the
difference in RSS is what the operator's own code and state cost.
"""

from __future__ import annotations

from typing import Any

import kopf


@kopf.on.event("platform.storefront.dev", "v1alpha1", "storefronts")
def storefront_seen(**_: Any) -> None:
    pass


@kopf.on.event("apps", "v1", "deployments")
def deployment_seen(**_: Any) -> None:
    pass


@kopf.on.event("batch", "v1", "jobs")
def job_seen(**_: Any) -> None:
    pass
