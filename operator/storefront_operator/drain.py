"""`python -m storefront_operator.drain`: the operator chart's pre-delete hook.

Every Storefront carries the operator's finalizer, which only a running operator removes. When
the platform and the operator are uninstalled together (`helm uninstall` of both, or skaffold's
clean-up, which removes the platform's release first), the operator must outlive the deletions
it has to finish, or those Storefronts stay behind, finalizer and all. Helm runs this before it
removes anything of the operator's release: it waits, bounded, until no Storefront being deleted
still carries the finalizer. Storefronts that are not being deleted are left alone.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

from .kube import Kube
from .settings import FINALIZER, Settings

log = logging.getLogger("storefront_operator.drain")


def finalizing(kube: Kube, namespaces: list[str]) -> list[str]:
    """namespace/name of every Storefront being deleted that still carries the finalizer."""
    pending = []
    for namespace in namespaces or [None]:
        for sf in kube.list("Storefront", namespace):
            meta = sf["metadata"]
            if meta.get("deletionTimestamp") and FINALIZER in (meta.get("finalizers") or []):
                pending.append(f"{meta['namespace']}/{meta['name']}")
    return sorted(pending)


def wait_for_deletions(kube: Kube, namespaces: list[str], timeout: float, interval: float = 1.0,
                       clock: Callable[[], float] = time.monotonic,
                       sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Polls until nothing is left to finalize or ``timeout`` passes; returns what is left."""
    deadline = clock() + timeout
    while True:
        pending = finalizing(kube, namespaces)
        if not pending or clock() >= deadline:
            return pending
        sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storefront_operator.drain", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for Storefronts being deleted (default: 120)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    namespaces = Settings.from_env().namespaces
    pending = wait_for_deletions(Kube.auto(), namespaces, args.timeout)
    if pending:
        log.error("still being deleted after %.0fs, their finalizer not yet removed: %s. The operator stays "
                  "installed until they are gone; `helm uninstall --no-hooks` removes it regardless.",
                  args.timeout, ", ".join(pending))
        return 1
    log.info("no Storefront left to finalize in %s", ", ".join(namespaces) if namespaces else "any namespace")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
