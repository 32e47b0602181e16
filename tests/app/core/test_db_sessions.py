"""Database sessions without bookkeeping round trips: no pre-ping (a connection the server closed
is replaced at checkout, before any request uses it) and no transaction for GET requests."""

from __future__ import annotations

import asyncio
import os
import time

import asyncpg
from sqlalchemy import text
from starlette.requests import Request

from app.core.db import get_session


def _exited(pids: list[int]) -> bool:
    return not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def _request(method: str) -> Request:
    return Request({"type": "http", "method": method, "path": "/", "headers": [], "query_string": b""})


async def _first_statement_ends_transaction(method: str) -> bool:
    """In autocommit every statement is a transaction of its own, with an id of its own."""
    sessions = get_session(_request(method))
    session = await anext(sessions)
    try:
        ids = [(await session.execute(text("SELECT pg_current_xact_id()::text"))).scalar_one() for _ in range(2)]
        return ids[0] != ids[1]
    finally:
        await sessions.aclose()


async def test_get_requests_read_without_a_transaction_and_writes_keep_theirs(app):
    assert await _first_statement_ends_transaction("GET") is True
    assert await _first_statement_ends_transaction("HEAD") is True
    assert await _first_statement_ends_transaction("POST") is False
    assert await _first_statement_ends_transaction("PATCH") is False


async def test_connections_the_server_closed_are_replaced_without_a_failed_request(client, api, postgres_server,
                                                                                    database_name):
    user = await api.user()
    admin = await api.admin()
    product = (await client.post("/products", json={"name": "Pooled", "price": 1, "stock": 5},
                                 headers=admin.headers)).json()
    for path in ("/users/me", "/orders"):
        assert (await client.get(path, headers=user.headers)).status_code == 200

    outside = await asyncpg.connect(postgres_server.url(database_name, driver="postgresql"))
    try:
        ended = [row["pid"] for row in await outside.fetch(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        assert ended, "the app kept no connection in its pool"
    finally:
        await outside.close()
    # A backend leaves pg_stat_activity before its process exits and the kernel closes its
    # socket; only then can the app see the connection closed. The server runs on this machine.
    deadline = time.monotonic() + 10
    while not _exited(ended):
        assert time.monotonic() < deadline, f"terminated backends {ended} did not exit"
        await asyncio.sleep(0.01)

    # Every pooled connection is dead; each request gets a fresh one, none fails.
    for path in ("/users/me", "/orders"):
        r = await client.get(path, headers=user.headers)
        assert r.status_code == 200, r.text
    r = await client.post("/orders", headers=user.headers, json={"items": [{"product_id": product["id"], "quantity": 1}]})
    assert r.status_code == 201, r.text
