"""Every error is an RFC 9457 problem document carrying the correlation id."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from app.core.db import get_sessionmaker
from app.main import create_app

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert {"type", "title", "status", "detail", "correlation_id"} <= body.keys()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["correlation_id"] == r.headers["x-request-id"]
    return body


@pytest.fixture
async def faulty_client(settings):
    """The app plus routes that fail on purpose, with a short timeout and a small body limit."""
    application = create_app(settings.model_copy(update={"request_timeout_seconds": 0.5, "max_body_bytes": 1024}))

    @application.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("connection string postgres://secret@db is broken")

    @application.get("/test/slow")
    async def slow() -> dict:
        await asyncio.sleep(5)
        return {}

    @application.get("/test/slow-sql")
    async def slow_sql() -> dict:
        async with get_sessionmaker()() as session:
            await session.execute(text("SELECT pg_sleep(5)"))
        return {}

    @application.post("/test/echo")
    async def echo(payload: dict) -> dict:
        return {"size": len(str(payload))}

    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_unknown_route_is_404_problem(client):
    body = assert_problem(await client.get("/no/such/thing"), 404)
    assert body["title"] == "Not Found"


async def test_wrong_method_is_405_problem_with_allow(client):
    r = await client.delete("/health")
    assert_problem(r, 405)
    assert "GET" in r.headers["allow"]


async def test_validation_error_lists_fields_without_echoing_input(client, api):
    admin = await api.admin()
    r = await client.post("/products", json={"name": "", "price": "s3cr3t-value", "colour": "red"}, headers=admin.headers)
    body = assert_problem(r, 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"body.name", "body.price", "body.colour"} <= fields
    assert "s3cr3t-value" not in r.text


async def test_malformed_json_is_422(client, api):
    admin = await api.admin()
    r = await client.post("/products", content=b"{not json", headers={**admin.headers, "Content-Type": "application/json"})
    assert_problem(r, 422)


async def test_unhandled_error_is_500_without_internals(faulty_client):
    r = await faulty_client.get("/test/boom")
    body = assert_problem(r, 500)
    assert "secret" not in r.text and "RuntimeError" not in r.text and "Traceback" not in r.text
    assert body["type"].endswith("/internal-error")
    assert r.headers["x-frame-options"] == "DENY"


async def test_slow_request_is_504(faulty_client):
    loop = asyncio.get_running_loop()
    start = loop.time()
    r = await faulty_client.get("/test/slow")
    assert_problem(r, 504)
    assert loop.time() - start < 3


async def test_timeout_during_a_query_leaves_the_pool_usable(faulty_client):
    assert_problem(await faulty_client.get("/test/slow-sql"), 504)
    # The cancelled query's connection must not poison the pool for the next requests.
    for i in range(25):  # distinct searches: each one a query of its own, none from the cache
        r = await faulty_client.get("/products", params={"q": f"nothing-{i}"})
        assert r.status_code == 200, r.text


async def test_declared_body_over_limit_is_413(faulty_client):
    r = await faulty_client.post("/test/echo", json={"blob": "x" * 5000})
    assert_problem(r, 413)


async def test_chunked_body_over_limit_is_413(faulty_client):
    async def chunks():
        for _ in range(10):
            yield b'{"blob": "' + b"x" * 400 + b'", '
    r = await faulty_client.post("/test/echo", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_problem(r, 413)


async def test_body_under_limit_passes(faulty_client):
    r = await faulty_client.post("/test/echo", json={"blob": "x" * 100})
    assert r.status_code == 200


async def test_default_body_limit_is_10_mib(client, api):
    admin = await api.admin()
    r = await client.post("/products", content=b"x" * (10 * 1024 * 1024 + 1),
                          headers={**admin.headers, "Content-Type": "application/json"})
    assert_problem(r, 413)


async def test_openapi_documents_problem_responses(client):
    spec = (await client.get("/openapi.json")).json()
    order_post = spec["paths"]["/orders"]["post"]["responses"]
    for status in ("401", "409", "413", "422", "429", "500", "503", "504"):
        assert PROBLEM in order_post[status]["content"], status
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert "500" in op["responses"] and "503" in op["responses"], (method, path)
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
