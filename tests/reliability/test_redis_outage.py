"""Redis stopped and started: the documented degradation (docs/configuration.md, "Degradation
when a backing service is down"): catalog reads bypass the cache, rate limiting fails open,
/ready answers 503, session state falls back to PostgreSQL so no revoked or used token is
accepted, and everything recovers without restarting the app (Redis comes back empty).
"""

from __future__ import annotations

import time

import pytest
from reliability_support import assert_problem, wait_for_status

from bench import api, loadgen

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CLIENT_TIMEOUT = 10.0


def _refresh(http, token: str):
    return http.post("/auth/refresh", json={"refresh_token": token})


def test_redis_outage_degrades_and_recovers(private_stack):
    stack = private_stack
    redis = stack.datastores.redis
    admin = stack.admin_token()
    with stack.client(timeout=10) as http:
        # The background load orders one unit per cycle for 14 s: stock enough that a fast
        # machine never runs it out (a 409 would be a correct answer, not a degradation).
        product = api.create_product(http, admin, "Cached product", stock=1_000_000)
        assert http.get(f"/products/{product}").status_code == 200  # now cached

        # A logged-out session: its refresh and access tokens are revoked.
        _email, revoked = stack.customer()
        assert http.post("/auth/logout", json={"refresh_token": revoked["refresh_token"]}).status_code == 204
        # A rotated session: the first refresh token is used, its child too, so the first is dead.
        _email, rotated = stack.customer()
        child = _refresh(http, rotated["refresh_token"]).json()
        grandchild = _refresh(http, child["refresh_token"]).json()
        # A live session.
        live_email, live = stack.customer()

        # A second live session carries a background load through the outage and the recovery.
        _email, loaded = stack.customer()
        load = loadgen.start({
            "base_url": stack.url, "scenario": "repeat", "seconds": 14, "concurrency": 4, "cycle": True,
            "keep_bodies": True, "timeout_seconds": CLIENT_TIMEOUT,
            "requests": [
                {"method": "GET", "path": f"/products/{product}"},
                {"method": "GET", "path": "/products?limit=5"},
                {"method": "GET", "path": "/users/me", "headers": api.bearer(loaded["access_token"])},
                {"method": "POST", "path": "/orders", "headers": api.bearer(loaded["access_token"]),
                 "json": {"items": [{"product_id": product, "quantity": 1}]}},
            ]})
        time.sleep(2)
        redis.stop()
        try:
            wait_for_status(http, "/ready", 503, timeout=5)
            assert http.get("/health").status_code == 200
            _check_degraded(http, product, revoked, rotated, grandchild, live, live_email)
        finally:
            redis.start()
        wait_for_status(http, "/ready", 200, timeout=15)
        result = loadgen.finish(load)
        assert not result["errors"], f"requests failed at the socket or timed out: {result['errors']}"
        odd = [s for s in result["samples"] if s["status"] not in (200, 201)]
        assert not odd, f"the load saw answers other than 200/201 through the outage: {odd[:3]}"
        assert max(result["latencies_ms"]) < CLIENT_TIMEOUT * 1000

        # Redis came back empty: PostgreSQL still knows what is revoked.
        assert_problem(_refresh(http, revoked["refresh_token"]), 401)
        assert_problem(http.get("/users/me", headers=api.bearer(revoked["access_token"])), 401)
        assert_problem(_refresh(http, rotated["refresh_token"]), 401)
        assert http.get(f"/products/{product}").status_code == 200
        fresh = api.login(http, live_email, api.PASSWORD)
        assert http.get("/users/me", headers=api.bearer(fresh["access_token"])).status_code == 200
        assert _refresh(http, fresh["refresh_token"]).status_code == 200


def _check_degraded(http, product, revoked, rotated, grandchild, live, live_email) -> None:
    started = time.monotonic()
    # Catalog reads go to PostgreSQL.
    assert http.get(f"/products/{product}").status_code == 200
    assert http.get("/products?limit=5").status_code == 200
    # Revoked and used tokens stay dead.
    assert_problem(_refresh(http, revoked["refresh_token"]), 401)
    assert_problem(http.get("/users/me", headers=api.bearer(revoked["access_token"])), 401)
    assert_problem(_refresh(http, rotated["refresh_token"]), 401)  # reuse: the whole family dies
    assert_problem(_refresh(http, grandchild["refresh_token"]), 401)
    assert_problem(http.get("/users/me", headers=api.bearer(grandchild["access_token"])), 401)
    # A live session keeps working, and so do logins (the limiter and throttle fail open).
    assert http.get("/users/me", headers=api.bearer(live["access_token"])).status_code == 200
    renewed = _refresh(http, live["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert http.get("/users/me", headers=api.bearer(renewed.json()["access_token"])).status_code == 200
    assert api.login(http, live_email, api.PASSWORD)["access_token"]
    order = http.post("/orders", json={"items": [{"product_id": product, "quantity": 1}]},
                      headers=api.bearer(renewed.json()["access_token"]))
    assert order.status_code == 201, order.text
    # An outage costs at most a timeout once, not per request.
    assert time.monotonic() - started < 15
