"""Every route of the API, in one router the application includes."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import api_keys, auth, health, jwks, orders, products, users

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(auth.router)
api_router.include_router(jwks.router)
api_router.include_router(users.router)
api_router.include_router(api_keys.router)
api_router.include_router(products.router)
api_router.include_router(orders.router)
