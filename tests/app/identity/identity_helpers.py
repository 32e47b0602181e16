"""Helpers for the identity tests: crafted tokens and audit rows."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization


def keyset_document(settings) -> dict:
    return json.loads(Path(settings.jwt_keyset_file).read_text())


def private_key_of(settings, kid: str | None = None):
    doc = keyset_document(settings)
    kid = kid or doc["active_kid"]
    entry = next(k for k in doc["keys"] if k["kid"] == kid)
    return entry, serialization.load_pem_private_key(entry["private_key"].encode(), password=None)


def access_claims(settings, user_id: str, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "sub": user_id, "iat": now, "nbf": now,
        "exp": now + 300, "jti": uuid.uuid4().hex, "token_use": "access", "ver": 0, "role": "customer",
        "amr": ["pwd"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign_with_keyset(settings, claims: dict, *, kid: str | None = None, typ: str = "at+jwt") -> str:
    entry, key = private_key_of(settings, kid)
    return jwt.encode(claims, key, algorithm=entry["alg"], headers={"kid": entry["kid"], "typ": typ})


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


async def audit_events(postgres_server, database: str, subject_id: str | None = None) -> list[str]:
    where = f"WHERE subject_id = '{subject_id}'" if subject_id else ""
    out = await asyncio.to_thread(postgres_server.psql, f"SELECT event || '|' || outcome FROM audit_log {where} ORDER BY created_at", database)
    return [line for line in out.splitlines() if line]


def from_address(client, ip: str):
    """Another client for the same app, connecting from another address."""
    import httpx

    transport = httpx.ASGITransport(app=client._transport.app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")
