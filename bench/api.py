"""Setting up benchmark data through the public API, the way a client would."""

from __future__ import annotations

import secrets
from decimal import Decimal

import httpx

PASSWORD = "quiet-harbor-lantern-7q"  # fixed, so every login verifies a hash of the same input


class ApiError(RuntimeError):
    pass


def _check(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        raise ApiError(f"{response.request.method} {response.request.url.path} -> {response.status_code}: "
                       f"{response.text[:500]}")
    return response


def client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30)


def login(http: httpx.Client, email: str, password: str) -> dict:
    return _check(http.post("/auth/login", json={"email": email, "password": password}), 200).json()


def register(http: httpx.Client, tag: str = "") -> str:
    """A new customer with the benchmark password; returns the email."""
    email = f"bench-{tag}{secrets.token_hex(5)}@example.com"
    _check(http.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "Bench Customer"}), 201)
    return email


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_product(http: httpx.Client, admin_token: str, name: str, stock: int, price: str = "9.99") -> str:
    body = {"name": name, "description": "benchmark product", "price": str(Decimal(price)), "stock": stock}
    return _check(http.post("/products", json=body, headers=bearer(admin_token)), 201).json()["id"]


def product_stock(http: httpx.Client, product_id: str) -> int:
    return _check(http.get(f"/products/{product_id}"), 200).json()["stock"]
