"""/health, /ready, /version and /metrics."""

from __future__ import annotations

from app.core.security.keys import KeyManager, generate_keyset, write_keyset


async def test_health(client):
    r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_ready_checks_everything(client):
    r = await client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok", "keys": "ok"}}


async def test_ready_is_503_until_a_keyset_exists(app, client, settings):
    settings.jwt_keyset_file.unlink()
    manager = KeyManager(settings.jwt_keyset_file)
    manager.start()
    app.state.key_manager = manager
    try:
        r = await client.get("/ready")
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["checks"] == {"database": "ok", "redis": "ok", "keys": "failed"}
        write_keyset(settings.jwt_keyset_file, generate_keyset())
        assert (await client.get("/ready")).status_code == 200
    finally:
        await manager.stop()


async def test_version_reports_schema_revision(client):
    r = await client.get("/version")
    assert r.status_code == 200
    body = r.json()
    assert body["schema_revision"] == body["migrations_head"] == "0004_outbox_webhooks"
    assert body["version"] and body["git_sha"]


async def test_metrics_by_route_template(client, api):
    admin = await api.admin()
    product = (await client.post("/products", json={"name": "M", "price": 1, "stock": 1}, headers=admin.headers)).json()
    await client.get(f"/products/{product['id']}")
    await client.get(f"/products/{product['id']}")
    await client.get("/definitely/not/here")
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'storefront_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/products/{product_id}"}' in text \
        or 'route="/products/{product_id}"' in text
    assert product["id"] not in text  # raw paths never become labels
    assert 'route="<unmatched>"' in text
    assert "storefront_db_query_duration_seconds_bucket" in text
    assert 'storefront_cache_requests_total{cache="product",result="miss"}' in text
    assert 'storefront_cache_requests_total{cache="product_local",result="hit"}' in text
    assert "storefront_signups_total" in text
    assert "storefront_orders_total" in text
    assert 'storefront_http_errors_total{route="<unmatched>",status="404"}' in text
