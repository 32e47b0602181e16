"""PostgreSQL stopped and started under load: 503 while it is down (never 500, never a hang),
/ready false within seconds, full recovery without restarting the app, no committed order lost.
"""

from __future__ import annotations

import time

import pytest
from reliability_support import assert_problem, wait_for_status

from bench import api, loadgen

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

STOCK = 100_000
OUTAGE_SECONDS = 5
CLIENT_TIMEOUT = 10.0  # the load generator's per-request timeout: anything slower counts as hung


def test_postgres_outage_under_load(private_stack):
    stack = private_stack
    pg = stack.datastores.pg
    admin = stack.admin_token()
    with stack.client() as http:
        product = api.create_product(http, admin, "Outage product", stock=STOCK)
    _email, tokens = stack.customer()
    customer = api.bearer(tokens["access_token"])
    order = {"items": [{"product_id": product, "quantity": 1}]}
    plan = {
        "base_url": stack.url, "scenario": "repeat", "seconds": 20, "concurrency": 6, "cycle": True,
        "keep_bodies": True, "timeout_seconds": CLIENT_TIMEOUT,
        "requests": [
            {"method": "POST", "path": "/orders", "headers": customer, "json": order},
            {"method": "GET", "path": "/orders?limit=5", "headers": customer},
            {"method": "GET", "path": f"/products/{product}"},
            {"method": "GET", "path": "/products?limit=5"},
        ],
    }
    load = loadgen.start(plan)
    with stack.client(timeout=CLIENT_TIMEOUT) as http:
        time.sleep(3)
        down_at = time.time()
        pg.stop()
        not_ready_after = wait_for_status(http, "/ready", 503, timeout=5)
        assert http.get("/health").status_code == 200, "liveness must not fail: a restart would not help"
        response = http.post("/orders", json=order, headers=customer)
        problem = assert_problem(response, 503)
        assert "database" in problem["type"], problem
        assert response.headers.get("retry-after"), "a 503 tells the client when to retry"
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.time() - down_at)))
        pg.start()
        up_at = time.time()
        ready_after = wait_for_status(http, "/ready", 200, timeout=15)
    result = loadgen.finish(load)
    samples = result["samples"]

    assert not result["errors"], f"requests failed at the socket or timed out: {result['errors']}"
    statuses = {s["status"] for s in samples}
    unexpected = [{**s, "t": round(s["t"] - down_at, 2)} for s in samples if s["status"] not in (200, 201, 503)]
    assert statuses <= {200, 201, 503}, f"unexpected answers (t relative to the stop; restart at " \
                                        f"{up_at - down_at:.1f}s): {unexpected[:5]}"
    assert max(s["ms"] for s in samples) < CLIENT_TIMEOUT * 1000
    during = [s for s in samples if down_at + 0.5 < s["t"] < up_at - 0.5]
    assert any(s["status"] == 503 for s in during), "the outage was not noticed by the load"
    for s in samples:
        if s["status"] == 503:
            assert s["body"]["status"] == 503 and "database" in s["body"]["type"], s["body"]
    recovered = [s for s in samples if s["t"] > up_at + ready_after + 1]
    assert recovered, "the load ended before recovery could be observed"
    assert all(s["status"] in (200, 201) for s in recovered), [s for s in recovered if s["status"] >= 300][:3]
    assert not_ready_after < 5

    created = [s["body"]["id"] for s in samples if s["status"] == 201 and s["method"] == "POST"]
    assert created, "no order was placed at all"
    ids = ",".join(f"'{i}'" for i in created)
    found = int(pg.psql(f"SELECT count(*) FROM orders WHERE id IN ({ids})", "storefront"))
    assert found == len(created), f"{len(created) - found} orders answered 201 are missing from the database"
    sold = int(pg.psql(f"SELECT coalesce(sum(quantity), 0) FROM order_items WHERE product_id = '{product}'",
                       "storefront"))
    stock = int(pg.psql(f"SELECT stock FROM products WHERE id = '{product}'", "storefront"))
    assert stock + sold == STOCK, "stock and order items disagree: an order was half-written"
    assert sold >= len(created)
