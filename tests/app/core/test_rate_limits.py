"""Rate limits in the real Redis: per IP, per caller, stricter on login/register; 429 + Retry-After."""

from __future__ import annotations

import base64
import json
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager

from app.main import create_app

PROBLEM = "application/problem+json"


@asynccontextmanager
async def limited_app(settings, **limits):
    application = create_app(settings.model_copy(update=limits))
    async with LifespanManager(application):
        yield application


def client_for(application, ip: str = "198.51.100.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application, client=(ip, 5555)),
                             base_url="http://testserver")


def assert_429(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert 1 <= int(r.headers["retry-after"]) <= 61
    assert r.json()["correlation_id"] == r.headers["x-request-id"]


async def test_per_ip_limit_with_retry_after(settings):
    async with limited_app(settings, rate_limit_per_ip_per_minute=5) as application:
        async with client_for(application) as c, client_for(application, ip="198.51.100.8") as other:
            for _ in range(5):
                assert (await c.get("/products")).status_code == 200
            assert_429(await c.get("/products"))
            # Another address has its own budget; probes are never limited.
            assert (await other.get("/products")).status_code == 200
            assert (await c.get("/health")).status_code == 200
            assert (await c.get("/ready")).status_code == 200


async def test_forwarded_for_counts_only_with_trusted_proxies(settings):
    async with limited_app(settings, rate_limit_per_ip_per_minute=2, trusted_proxy_count=1) as application:
        async with client_for(application, ip="10.0.0.1") as proxy:
            for client_ip in ("203.0.113.1", "203.0.113.2"):
                for _ in range(2):
                    r = await proxy.get("/products", headers={"X-Forwarded-For": f"1.2.3.4, {client_ip}"})
                    assert r.status_code == 200
                assert_429(await proxy.get("/products", headers={"X-Forwarded-For": client_ip}))


async def test_per_user_limit(settings, api):
    async with limited_app(settings, rate_limit_per_user_per_minute=4) as application:
        async with client_for(application) as c:
            api.client = c
            alice = await api.user()
            bob = await api.user()
            for _ in range(4):
                assert (await c.get("/orders", headers=alice.headers)).status_code == 200
            assert_429(await c.get("/orders", headers=alice.headers))
            assert (await c.get("/orders", headers=bob.headers)).status_code == 200


def _forged_token(sub: str) -> str:
    part = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'EdDSA', 'typ': 'JWT'})}.{part({'sub': sub})}.{part({'sig': 1})}"


async def test_forged_tokens_do_not_spend_the_victims_budget(settings, api):
    async with limited_app(settings, rate_limit_per_user_per_minute=3) as application:
        async with client_for(application) as c:
            api.client = c
            victim = await api.user()
            forged = {"Authorization": f"Bearer {_forged_token(victim.id)}"}
            for _ in range(6):
                assert (await c.get("/orders", headers=forged)).status_code == 401
            for _ in range(3):
                assert (await c.get("/orders", headers=victim.headers)).status_code == 200


async def test_login_and_register_have_stricter_limits(settings, api):
    async with limited_app(settings, rate_limit_login_per_ip_per_minute=3,
                           rate_limit_register_per_ip_per_minute=2) as application:
        async with client_for(application) as c:
            api.client = c
            for _ in range(2):
                await api.register()
            r = await c.post("/auth/register", json={"email": "late@example.com", "password": "x" * 20, "name": "L"})
            assert_429(r)
            for _ in range(3):
                r = await c.post("/auth/login", json={"email": "nobody@example.com", "password": "wrong-password-1"})
                assert r.status_code == 401
            assert_429(await c.post("/auth/login", json={"email": "nobody@example.com", "password": "wrong-password-1"}))
            # Other routes are still open to this address.
            assert (await c.get("/products")).status_code == 200


async def test_limiter_falls_back_to_per_process_counts_while_redis_is_down(settings, redis_server):
    async with limited_app(settings, rate_limit_per_ip_per_minute=3) as application:
        async with client_for(application) as c:
            redis_server.stop()
            try:
                statuses = [(await c.get("/products")).status_code for _ in range(5)]
            finally:
                redis_server.start()
            # Served (no 5xx for the limiter's sake) and still limited within the process.
            assert statuses == [200, 200, 200, 429, 429]
            metrics = (await c.get("/metrics")).text
            assert "storefront_rate_limit_backend_errors_total 0.0" not in metrics


async def test_counts_are_shared_through_redis(settings):
    """Two app instances (as two pods) share one budget per IP through Redis."""
    async with limited_app(settings, rate_limit_per_ip_per_minute=4, rate_limit_sync_seconds=0) as first:
        async with limited_app(settings, rate_limit_per_ip_per_minute=4, rate_limit_sync_seconds=0) as second:
            async with client_for(first) as a, client_for(second) as b:
                assert [(await a.get("/products")).status_code for _ in range(2)] == [200, 200]
                assert [(await b.get("/products")).status_code for _ in range(2)] == [200, 200]
                assert_429(await a.get("/products"))
                assert_429(await b.get("/products"))
