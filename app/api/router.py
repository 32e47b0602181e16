"""Every router of the API, in the order requests are matched against them.

FastAPI matches a request against the routes one by one, so the hottest paths (the catalog,
then orders) come first; the app includes these routers directly (no nesting) for the same
reason: every level of nesting is matched twice per request.
"""

from __future__ import annotations

from fastapi import APIRouter

from app.api import api_keys, auth, docs, health, jwks, orders, products, users, webhooks

ROUTERS: tuple[APIRouter, ...] = (
    products.router,
    orders.router,
    auth.router,
    users.router,
    api_keys.router,
    webhooks.router,
    jwks.router,
    health.router,
    docs.router,
)
