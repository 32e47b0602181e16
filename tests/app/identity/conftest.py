"""Identity fixtures: apps with non-default settings on the test's database and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app


@pytest.fixture
def app_with(settings) -> Callable[..., Any]:
    """``async with app_with(**setting_overrides) as client``: another app on the test's
    database, Redis and keyset, with some settings changed. The app's datastore clients are
    process-wide, so never open two of these at once (use ``from_address`` for a second
    caller of the same app)."""

    @asynccontextmanager
    async def factory(client_ip: str = "203.0.113.10", **overrides) -> AsyncIterator[httpx.AsyncClient]:
        application = create_app(settings.model_copy(update=overrides))
        async with LifespanManager(application):
            transport = httpx.ASGITransport(app=application, client=(client_ip, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield client

    return factory
