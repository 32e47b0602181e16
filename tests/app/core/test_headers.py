"""X-Request-ID, security headers and CORS on every response."""

from __future__ import annotations

import re

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.middleware.security_headers import API_CSP


async def test_valid_request_id_is_echoed(client):
    r = await client.get("/health", headers={"X-Request-ID": "abc-123_trace.1"})
    assert r.headers["x-request-id"] == "abc-123_trace.1"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 200, "<script>", "semi;colon"])
async def test_invalid_request_id_is_replaced(client, bad):
    r = await client.get("/health", headers={"X-Request-ID": bad})
    generated = r.headers["x-request-id"]
    assert generated != bad and len(generated) == 32


async def test_request_id_generated_when_missing_and_on_errors(client):
    ok = await client.get("/health")
    missing = await client.get("/nope")
    assert len(ok.headers["x-request-id"]) == 32
    assert missing.headers["x-request-id"] == missing.json()["correlation_id"]
    assert ok.headers["x-request-id"] != missing.headers["x-request-id"]


async def test_security_headers_on_success_and_error(client):
    for r in (await client.get("/health"), await client.get("/nope")):
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert "default-src 'none'" in r.headers["content-security-policy"]


async def test_credentialed_and_auth_responses_are_not_stored(client, api):
    user = await api.user()
    assert (await client.get("/orders", headers=user.headers)).headers["cache-control"] == "no-store"
    r = await client.post("/auth/login", json={"email": user.email, "password": user.password})
    assert r.headers["cache-control"] == "no-store"
    assert "cache-control" not in (await client.get("/products")).headers


async def test_docs_load_only_from_the_app_under_a_self_only_csp(client):
    r = await client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "default-src 'none'" in csp
    assert "https:" not in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    # No inline script and nothing from another origin: every src/href is one of the app's paths.
    assert re.search(r"<script>|<script [^>]*>[^<]", r.text) is None
    urls = re.findall(r'(?:src|href|data-openapi-url)="([^"]+)"', r.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for url, media in (("/docs/assets/swagger-ui-bundle.js", "text/javascript"), ("/docs/assets/swagger-init.js",
                       "text/javascript"), ("/docs/assets/swagger-ui.css", "text/css"),
                       ("/docs/assets/favicon.png", "image/png")):
        asset = await client.get(url)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media), url
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in asset.headers["content-security-policy"]  # the API's, not the page's


async def test_only_the_docs_page_gets_the_docs_csp(client):
    for path in ("/health", "/products", "/openapi.json", "/docs/assets/swagger-ui.css", "/nope"):
        r = await client.get(path)
        assert r.headers["content-security-policy"] == API_CSP, path
    for gone in ("/redoc", "/docs/oauth2-redirect", "/docs/assets/../../app/main.py", "/docs/assets/secret.js"):
        r = await client.get(gone)
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json"), gone


@pytest.fixture
async def cors_client(settings):
    application = create_app(settings.model_copy(update={"cors_origins": ["https://shop.example"]}))
    async with LifespanManager(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as c:
            yield c


async def test_cors_allows_configured_origin_only(cors_client):
    ok = await cors_client.get("/products", headers={"Origin": "https://shop.example"})
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    assert "x-request-id" in ok.headers["access-control-expose-headers"].lower()
    evil = await cors_client.get("/products", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers


async def test_cors_preflight(cors_client):
    r = await cors_client.options("/orders", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, idempotency-key"})
    assert r.status_code == 200
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "x-request-id" in r.headers
    bad = await cors_client.options("/orders", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert bad.status_code == 400
    assert "access-control-allow-origin" not in bad.headers


async def test_no_cors_headers_without_configured_origins(client):
    r = await client.get("/products", headers={"Origin": "https://shop.example"})
    assert "access-control-allow-origin" not in r.headers
