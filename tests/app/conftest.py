"""Fixtures for the API tests: a migrated database per test (cloned from a template migrated
once), the real Redis flushed per test, a generated keyset, and the ASGI app with its lifespan.

Helpers register and log in users through the public API; the admin role is granted in the
database (there is no public route that makes an admin) before the admin logs in.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.core.config import Settings
from app.core.migrations import upgrade
from app.main import create_app
from app.services.bootstrap import write_new_keyset

# Long enough to pass the password policy, random enough to be in no common-password list.
PASSWORD_PREFIX = "orchard-lantern-"


def strong_password() -> str:
    return PASSWORD_PREFIX + uuid.uuid4().hex[:12]


def _random_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="session")
def template_database(postgres_server) -> str:
    """A database migrated to head once; each test clones it (CREATE DATABASE … TEMPLATE)."""
    name = f"sf_template_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    upgrade(url)
    return name


def _flush(redis_server) -> None:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    try:
        client.flushall()
    finally:
        client.close()


def make_settings(postgres_server, database: str, redis_server, tmp_path: Path, **overrides) -> Settings:
    keyset = tmp_path / "keys" / "keyset.json"
    if not keyset.exists():
        write_new_keyset(keyset)
    values = dict(
        environment="test",
        database_url=postgres_server.url(database),
        database_pool_timeout_seconds=30.0,
        redis_url=redis_server.url,
        jwt_keyset_file=keyset,
        jwt_keyset_poll_seconds=0.2,
        pii_encryption_key=_random_key(),
        blind_index_key=_random_key(),
        # Generous limits so ordinary tests never trip them; the rate-limit tests lower them.
        rate_limit_per_user_per_minute=100_000,
        rate_limit_per_ip_per_minute=100_000,
        rate_limit_login_per_ip_per_minute=100_000,
        rate_limit_register_per_ip_per_minute=100_000,
        access_log=False,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def database_name(postgres_server, template_database) -> Iterator[str]:
    name = f"sf_{uuid.uuid4().hex[:12]}"
    postgres_server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield name
    if postgres_server.running:
        postgres_server.drop_database(name)


@pytest.fixture
def settings(postgres_server, database_name, redis_server, tmp_path) -> Settings:
    if not redis_server.running:
        redis_server.start()
    _flush(redis_server)
    return make_settings(postgres_server, database_name, redis_server, tmp_path)


@pytest.fixture
def settings_for(redis_server, tmp_path):
    """Settings for a database on another server (a primary with a standby, say); Redis flushed."""
    if not redis_server.running:
        redis_server.start()
    _flush(redis_server)

    def make(server, database: str, **overrides) -> Settings:
        return make_settings(server, database, redis_server, tmp_path, **overrides)

    return make


@pytest.fixture
def api_on():
    """An ``Api`` helper for a client of an app on another server's database."""
    return Api


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Account:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    headers: dict[str, str] = field(default_factory=dict)


class Api:
    """Registration and login through the public API; admin role granted in the database."""

    def __init__(self, client: httpx.AsyncClient, postgres_server, database: str):
        self.client = client
        self.postgres_server = postgres_server
        self.database = database

    async def register(self, email: str | None = None, password: str | None = None, name: str = "Test User") -> dict:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        password = password or strong_password()
        r = await self.client.post("/auth/register", json={"email": email, "password": password, "name": name})
        assert r.status_code == 201, r.text
        return {**r.json(), "email": email, "password": password}

    async def login(self, email: str, password: str) -> dict:
        r = await self.client.post("/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return r.json()

    async def user(self, name: str = "Test User") -> Account:
        created = await self.register(name=name)
        tokens = await self.login(created["email"], created["password"])
        return Account(id=created["id"], email=created["email"], password=created["password"],
                       access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                       headers={"Authorization": f"Bearer {tokens['access_token']}"})

    async def admin(self) -> Account:
        created = await self.register(name="Admin")
        await asyncio.to_thread(self.postgres_server.psql,
                                f"UPDATE users SET role = 'admin' WHERE id = '{created['id']}'", self.database)
        tokens = await self.login(created["email"], created["password"])
        return Account(id=created["id"], email=created["email"], password=created["password"],
                       access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                       headers={"Authorization": f"Bearer {tokens['access_token']}"})


@pytest.fixture
def api(client: httpx.AsyncClient, postgres_server, database_name: str) -> Api:
    return Api(client, postgres_server, database_name)
