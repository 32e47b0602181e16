"""Cluster mode: the app talks to a real 3-node Redis Cluster through the node list the
operator hands over, for caching, rate limits, sessions and readiness."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.core.redis import parse_cluster_nodes
from app.main import create_app


def test_cluster_node_list_parsing():
    nodes = parse_cluster_nodes(" redis-0.redis:6379, redis-1.redis:6379,\n10.0.0.3:7000 ")
    assert [(n.host, n.port) for n in nodes] == [("redis-0.redis", 6379), ("redis-1.redis", 6379), ("10.0.0.3", 7000)]
    for bad in ("", " , ", "host-without-port", "host:port"):
        with pytest.raises(ValueError):
            parse_cluster_nodes(bad)


@pytest.mark.slow
async def test_app_runs_on_a_redis_cluster(settings, redis_cluster_factory, api):
    cluster = redis_cluster_factory(3)
    cluster.form()
    cluster_settings = settings.model_copy(update={
        "redis_mode": "cluster", "redis_cluster_nodes": ",".join(cluster.addresses),
        "rate_limit_per_ip_per_minute": 1000, "rate_limit_per_user_per_minute": 5,
    })
    # No in-process level, so every cached read really goes to the cluster.
    application = create_app(cluster_settings.model_copy(update={"product_local_cache_seconds": 0}))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=("192.0.2.9", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            api.client = c
            assert (await c.get("/ready")).json()["checks"]["redis"] == "ok"
            admin = await api.admin()
            product = (await c.post("/products", json={"name": "Clustered", "price": 2, "stock": 3},
                                    headers=admin.headers)).json()
            for _ in range(2):  # a miss, then a hit from the cluster
                assert (await c.get(f"/products/{product['id']}")).json()["name"] == "Clustered"
                assert len((await c.get("/products")).json()["items"]) == 1
            user = await api.user()
            order = await c.post("/orders", headers=user.headers,
                                 json={"items": [{"product_id": product["id"], "quantity": 1}]})
            assert order.status_code == 201
            assert (await c.get(f"/products/{product['id']}")).json()["stock"] == 2  # invalidated in the cluster
            statuses = [(await c.get("/orders", headers=user.headers)).status_code for _ in range(6)]
            assert 429 in statuses  # per-user counter lives in the cluster
            metrics = (await c.get("/metrics")).text
            assert 'storefront_cache_requests_total{cache="product",result="hit"}' in metrics
