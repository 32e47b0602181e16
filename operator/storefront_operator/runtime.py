"""Process-wide state of the running operator: settings, API client, worker pool, wake-ups.

Wake-ups are per Storefront (an asyncio.Event each): a change to a Storefront or one of its
children wakes that Storefront's loop only. There is no global lock.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .kube import Kube
from .settings import Settings


@dataclass
class Runtime:
    settings: Settings = field(default_factory=Settings.from_env)
    kube: Kube | None = None
    # Reconciles block on HTTP and Redis sockets: a pool wide enough that many slow
    # Storefronts cannot starve the rest.
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=32, thread_name_prefix="reconcile"))
    wakeups: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)

    def client(self) -> Kube:
        if self.kube is None:
            self.kube = Kube.auto()
        return self.kube

    def wakeup(self, namespace: str, name: str) -> asyncio.Event:
        return self.wakeups.setdefault((namespace, name), asyncio.Event())

    def wake(self, namespace: str | None, name: str | None) -> None:
        event = self.wakeups.get((namespace or "", name or ""))
        if event is not None:
            event.set()

    def forget(self, namespace: str, name: str) -> None:
        self.wakeups.pop((namespace, name), None)


RUNTIME = Runtime()
