"""The webhook admin routes, the secret's handling and the SSRF policy."""

from __future__ import annotations

import ipaddress

import pytest
from sqlalchemy import text

from app.core.config import Settings
from app.core.errors import Unprocessable
from app.core.security.runtime import get_security
from app.schemas.webhooks import WebhookCreate
from app.services import ssrf, webhooks


async def test_register_list_get_delete(api, client, sessionmaker):
    admin = await api.admin()
    r = await client.post("/webhooks", json={"url": "http://127.0.0.1:9/hooks", "events": ["order.placed"],
                                             "description": "fulfilment"}, headers=admin.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_") and r.headers["Location"] == f"/webhooks/{created['id']}"
    # Stored encrypted: the plaintext is nowhere in the row.
    async with sessionmaker() as session:
        stored = await session.scalar(text("SELECT secret_ciphertext FROM webhook_endpoints WHERE id = :id"),
                                      {"id": created["id"]})
    assert created["secret"].encode() not in stored
    one = (await client.get(f"/webhooks/{created['id']}", headers=admin.headers)).json()
    assert "secret" not in one and one["events"] == ["order.placed"]
    listed = (await client.get("/webhooks", headers=admin.headers)).json()
    assert [w["id"] for w in listed["items"]] == [created["id"]] and "secret" not in listed["items"][0]
    deliveries = await client.get(f"/webhooks/{created['id']}/deliveries?status=dead_lettered", headers=admin.headers)
    assert deliveries.status_code == 200 and deliveries.json()["items"] == []
    bad = await client.get(f"/webhooks/{created['id']}/deliveries?status=lost", headers=admin.headers)
    assert bad.status_code == 422
    assert (await client.delete(f"/webhooks/{created['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"/webhooks/{created['id']}", headers=admin.headers)).status_code == 404


async def test_admins_only_and_bad_bodies(api, client):
    customer = await api.user()
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["order.placed"]}
    assert (await client.post("/webhooks", json=body, headers=customer.headers)).status_code == 403
    assert (await client.get("/webhooks", headers=customer.headers)).status_code == 403
    admin = await api.admin()
    for wrong in ({**body, "events": []}, {**body, "events": ["order.shipped"]}, {**body, "url": "ftp://x/y"},
                  {**body, "secret": "mine"}):
        r = await client.post("/webhooks", json=wrong, headers=admin.headers)
        assert r.status_code == 422, (wrong, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://localhost:8080/x", "http://[::1]/x", "http://10.1.2.3/x", "http://172.16.0.1/x",
    "http://192.168.1.1/x", "http://169.254.169.254/latest/meta-data", "http://100.64.0.1/x", "http://0.0.0.0/x",
    "http://224.0.0.1/x", "http://[fd00::1]/x", "http://[fe80::1]/x", "http://[::ffff:127.0.0.1]/x",
    "http://[::ffff:10.0.0.1]/x", "http://[64:ff9b::a00:1]/x", "http://[2002:a00:1::]/x", "http://2130706433/x",
    "http://user:pw@93.184.216.34/x",
])
async def test_private_targets_are_refused_by_default(url):
    policy = ssrf.TargetPolicy.of(Settings(environment="development"))
    with pytest.raises(ssrf.TargetRefused):
        await ssrf.resolve(url, policy)


async def test_public_targets_allowed_networks_and_https():
    development = ssrf.TargetPolicy.of(Settings(environment="development"))
    assert (await ssrf.resolve("http://93.184.216.34:8443/hook?x=1", development)).path == "/hook?x=1"
    allowed = ssrf.TargetPolicy.of(Settings(environment="development", webhook_allowed_networks=["10.20.0.0/16"]))
    assert (await ssrf.resolve("http://10.20.3.4/x", allowed)).address == "10.20.3.4"
    with pytest.raises(ssrf.TargetRefused):
        await ssrf.resolve("http://10.21.3.4/x", allowed)
    production = ssrf.TargetPolicy.of(Settings(environment="production"))
    with pytest.raises(ssrf.TargetRefused, match="https"):
        await ssrf.resolve("http://93.184.216.34/x", production)
    assert ssrf.TargetPolicy.of(Settings(environment="production", webhook_allow_http=True)).require_https is False
    assert ssrf.forbidden_reason(ipaddress.ip_address("8.8.8.8")) is None


async def test_registration_refuses_private_targets_unless_allowed(sessionmaker, settings):
    strict = ssrf.TargetPolicy.of(settings.model_copy(update={"webhook_allow_private_targets": False}))
    cipher = get_security().cipher
    data = WebhookCreate(url="http://127.0.0.1:9/x", events=["order.placed"])
    async with sessionmaker() as session:
        with pytest.raises(Unprocessable) as refused:
            await webhooks.create_endpoint(session, cipher, strict, data, None)
        assert refused.value.extra["type_slug"] == "webhook-url-refused"
        lenient = ssrf.TargetPolicy.of(settings)
        endpoint, _secret = await webhooks.create_endpoint(session, cipher, lenient, data, None)
        assert endpoint.url == data.url
