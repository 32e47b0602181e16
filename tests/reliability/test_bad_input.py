"""Bad input over real HTTP: every case answers a clear 4xx problem document, never a 5xx.

Sent through uvicorn (not an in-process transport) so the server's own parsing of bodies,
lengths and headers is part of what is tested.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from reliability_support import assert_problem

from bench import api

pytestmark = pytest.mark.reliability

ELEVEN_MB = 11 * 1024 * 1024


@pytest.fixture(scope="module")
def http(live_stack) -> httpx.Client:
    with live_stack.client() as client:
        yield client


@pytest.fixture(scope="module")
def customer_headers(live_stack) -> dict[str, str]:
    _email, tokens = live_stack.customer()
    return api.bearer(tokens["access_token"])


@pytest.fixture(scope="module")
def admin_headers(live_stack) -> dict[str, str]:
    return api.bearer(live_stack.admin_token())


# -- sizes ----------------------------------------------------------------------------


def test_declared_oversized_body_is_413(http):
    body = b'{"email": "' + b"a" * ELEVEN_MB + b'"}'
    response = http.post("/auth/login", content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 413)


def test_chunked_oversized_body_is_413(http):
    """No Content-Length: the limit is enforced while the body streams in."""

    def chunks():
        yield b'{"email": "'
        for _ in range(ELEVEN_MB // 65536 + 1):
            yield b"a" * 65536
        yield b'"}'

    response = http.post("/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem(response, 413)


def test_huge_field_inside_the_limit_is_422(http):
    response = http.post("/auth/register", json={"email": "x@example.com", "password": "p" * 100_000, "name": "n"})
    assert_problem(response, 422)


# -- malformed bodies -------------------------------------------------------------------


@pytest.mark.parametrize("body", [b'{"email": ', b"{'single': 'quotes'}", b"\xff\xfe\x00garbage", b"",
                                  b"null", b"[]", b'"a string"', b"12"])
def test_malformed_json_is_422(http, body):
    response = http.post("/auth/login", content=body, headers={"Content-Type": "application/json"})
    problem = assert_problem(response, (400, 422))
    assert problem["detail"]


def test_deeply_nested_json_is_4xx(http):
    """A parser recursion limit must not turn into a 500."""
    body = ("[" * 100_000 + "]" * 100_000).encode()
    response = http.post("/auth/login", content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, (400, 413, 422))


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                                          "multipart/form-data; boundary=x"])
def test_wrong_content_type_is_4xx(http, content_type):
    body = json.dumps({"email": "someone@example.com", "password": "correct horse battery"})
    response = http.post("/auth/login", content=body, headers={"Content-Type": content_type})
    assert_problem(response, (400, 415, 422))


def test_wrong_json_types_are_422(http, customer_headers):
    cases = [
        {"items": "not a list"},
        {"items": [{"product_id": str(uuid.uuid4()), "quantity": "three"}]},
        {"items": [{"product_id": str(uuid.uuid4()), "quantity": 2**70}]},
        {"items": [{"product_id": str(uuid.uuid4()), "quantity": -1}]},
        {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1.5}]},
        {"items": []},
        {"items": [{"product_id": 12, "quantity": 1}]},
    ]
    for body in cases:
        response = http.post("/orders", json=body, headers=customer_headers)
        assert_problem(response, 422)


def test_validation_problem_lists_the_fields(http):
    response = http.post("/auth/register", json={"email": "not-an-email", "password": 5})
    problem = assert_problem(response, 422)
    fields = {error["field"] for error in problem["errors"]}
    assert any("email" in f for f in fields) and any("password" in f for f in fields), fields


def test_numeric_edge_values_for_products_are_422(http, admin_headers):
    for price in ("NaN", "Infinity", "-1", "1e400", "12345678901234567890.123"):
        body = {"name": "Edge", "description": "", "price": price, "stock": 1}
        response = http.post("/products", json=body, headers=admin_headers)
        assert_problem(response, 422)
    for stock in (-1, 2**63, "many"):
        body = {"name": "Edge", "description": "", "price": "1.00", "stock": stock}
        response = http.post("/products", json=body, headers=admin_headers)
        assert_problem(response, 422)


# -- pagination ---------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["limit=1000000000", "limit=-1", "limit=0", "limit=abc", "limit=1e9",
                                   "limit=99999999999999999999999", "cursor=not-a-cursor", "cursor=%00%ff",
                                   "cursor=" + "A" * 5000])
def test_bad_pagination_is_4xx(http, query):
    response = http.get(f"/products?{query}")
    assert_problem(response, (400, 422))


def test_long_search_query_is_handled(http):
    response = http.get("/products", params={"q": "x" * 10_000})
    assert response.status_code in (200, 400, 422), response.text[:300]
    if response.status_code != 200:
        assert_problem(response)


# -- unicode ------------------------------------------------------------------------------


def test_unicode_names_round_trip(http):
    """Emoji, right-to-left text, combining marks and zero-width characters are plain data."""
    name = "Zoë 🛒 مرحبا e\u0301 a\u200db"
    email = f"unicode-{uuid.uuid4().hex[:8]}@example.com"
    response = http.post("/auth/register", json={"email": email, "password": api.PASSWORD, "name": name})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


@pytest.mark.parametrize("name", ["nul \u0000 byte", "\ud800 lone surrogate", "\udfff"])
def test_unrepresentable_text_is_422(http, name):
    """PostgreSQL cannot store NUL, and UTF-8 cannot encode lone surrogates: refuse, don't 500."""
    email = f"bad-text-{uuid.uuid4().hex[:8]}@example.com"
    body = json.dumps({"email": email, "password": api.PASSWORD, "name": name})  # \\u escapes survive dumps
    response = http.post("/auth/register", content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, (400, 422))


@pytest.mark.parametrize("raw_q", ["%00", "%ED%A0%80", "%FF%FE", "%25", "_", "%5C", "%27%20OR%201%3D1%20--",
                                   "%F0%9F%9B%92" * 50])
def test_search_with_odd_characters_is_not_an_error(http, raw_q):
    """NUL, an encoded surrogate, invalid UTF-8, LIKE wildcards, quotes: results or a 4xx."""
    response = http.get(f"/products?q={raw_q}")
    if response.status_code != 200:
        assert_problem(response, (400, 422))


# -- identifiers and headers --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/products/not-a-uuid", "/products/123", "/products/" + "f" * 40,
                                  "/products/00000000-0000-0000-0000-00000000000g"])
def test_invalid_uuid_in_public_path_is_422(http, path):
    assert_problem(http.get(path), (404, 422))


@pytest.mark.parametrize("path", ["/orders/not-a-uuid", "/orders/1"])
def test_invalid_uuid_in_owned_path_is_4xx(http, customer_headers, path):
    assert_problem(http.get(path, headers=customer_headers), (404, 422))


def test_unknown_uuid_is_404(http):
    assert_problem(http.get(f"/products/{uuid.uuid4()}"), 404)


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer  two-spaces", "Bearer not.a.jwt", "Basic Zm9vOmJhcg==",
                                           "Bearer " + "a" * 8000, "bearer\ttoken"])
def test_garbage_credentials_are_401(http, authorization):
    response = http.get("/users/me", headers={"Authorization": authorization})
    assert_problem(response, 401)


def test_invalid_request_id_is_replaced(http):
    response = http.get("/products/not-a-uuid", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 300})
    problem = assert_problem(response, (404, 422))
    assert response.headers["x-request-id"] != "bad id\twith spaces" + "x" * 300
    assert problem["correlation_id"] == response.headers["x-request-id"]


def test_unknown_route_and_method_are_problems(http):
    assert_problem(http.get("/no/such/route"), 404)
    assert_problem(http.request("PUT", "/products"), 405)


def test_unstorable_text_in_admin_writes_is_422(http, admin_headers):
    for name in ("nul \u0000 in a name", "x" * 10_000):
        response = http.post("/products", json={"name": name, "description": "", "price": "1.00", "stock": 1},
                             headers=admin_headers)
        assert_problem(response, 422)
    response = http.post("/products", json={"name": "ok", "description": "\u0000", "price": "1.00", "stock": 1},
                         headers=admin_headers)
    assert_problem(response, 422)


@pytest.mark.parametrize("key", [b"k" * 300, b"with\xe9latin-1", b"caf\xc3\xa9", b"inner space"])
def test_odd_idempotency_keys_are_4xx(http, customer_headers, key):
    """A header value the column cannot hold (too long) or in odd bytes must not become a 500
    (the order itself names an unknown product, so every answer is a 4xx)."""
    headers = {**customer_headers, "Idempotency-Key": key}
    response = http.post("/orders", json={"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]},
                         headers=headers)
    assert response.status_code < 500, response.text[:300]
    assert_problem(response)


def test_unicode_in_patch_me_round_trips_and_nul_is_refused(http, live_stack):
    _email, tokens = live_stack.customer()
    headers = api.bearer(tokens["access_token"])
    response = http.patch("/users/me", json={"name": "Ünïcödé 名前 🛒"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Ünïcödé 名前 🛒"
    assert_problem(http.patch("/users/me", json={"name": "bad\u0000name"}, headers=headers), 422)


def test_control_characters_in_headers_are_refused_by_the_http_server(http, customer_headers):
    """Bytes RFC 9110 forbids in a field value never reach the app: uvicorn's parser answers
    400 itself (plain text, the one non-problem answer, since no app code runs)."""
    response = http.post("/orders", json={"items": []}, headers={**customer_headers, "Idempotency-Key": b"a\x01b"})
    assert response.status_code == 400
