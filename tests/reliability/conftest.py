"""A live stack for the reliability suites: the app under uvicorn in its own process, on its
own PostgreSQL and Redis (so stopping them cannot disturb other tests), on loopback.

Built with ``bench.services`` so the suites and the benchmarks run the app the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from bench import api
from bench.services import ADMIN_EMAIL, Datastores, Server, Workdir


@dataclass
class LiveStack:
    datastores: Datastores
    server: Server

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30), **kwargs)

    def admin_token(self) -> str:
        with self.client() as http:
            return api.login(http, ADMIN_EMAIL, self.datastores.admin_password)["access_token"]

    def customer(self) -> tuple[str, dict]:
        """A new customer: (email, token pair)."""
        with self.client() as http:
            email = api.register(http)
            return email, api.login(http, email, api.PASSWORD)


def start_stack(work: Workdir, **overrides: str) -> LiveStack:
    datastores = work.datastores(**overrides)
    server = work.server("bench.apps:storefront_app", datastores.env, "app")
    return LiveStack(datastores, server)


@pytest.fixture(scope="session")
def live_stack() -> Iterator[LiveStack]:
    """Shared by the suites that only send requests (fuzzing, bad input)."""
    with Workdir("reliability") as work:
        yield start_stack(work)


@pytest.fixture(scope="module")
def private_stack() -> Iterator[LiveStack]:
    """One per module, for suites that stop and start the datastores. Timeouts are shortened
    so an outage is noticed in about a second, as the probes and clients would need."""
    with Workdir("faults") as work:
        yield start_stack(work, STOREFRONT_DATABASE_CONNECT_TIMEOUT_SECONDS="1",
                          STOREFRONT_DATABASE_POOL_TIMEOUT_SECONDS="2",
                          STOREFRONT_REDIS_SOCKET_TIMEOUT_SECONDS="0.5")
