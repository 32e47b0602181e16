"""Forged, altered and misused tokens are all 401 (RFC 8725; SPEC §3 access-token rules)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from identity_helpers import access_claims, keyset_document, sign_with_keyset, unverified_claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict, claims: dict) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


async def _me(client, token: str):
    return await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})


async def _valid_claims(api, settings):
    account = await api.user()
    return account, unverified_claims(account.access_token)


async def test_a_token_we_sign_ourselves_is_accepted(client, api, settings):
    # Control: the crafting helpers produce tokens the app accepts, so each refusal below
    # is caused by the one thing the attack changes.
    account, claims = await _valid_claims(api, settings)
    token = sign_with_keyset(settings, access_claims(settings, account.id, sid=claims["sid"], ver=claims["ver"]))
    assert (await _me(client, token)).status_code == 200


async def test_alg_none_is_refused(client, api, settings):
    account, claims = await _valid_claims(api, settings)
    kid = keyset_document(settings)["active_kid"]
    for alg in ("none", "None", "NONE"):
        token = _segments({"alg": alg, "typ": "at+jwt", "kid": kid}, claims) + "."
        r = await _me(client, token)
        assert r.status_code == 401, alg
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_hs256_signed_with_the_public_key_is_refused(client, api, settings):
    account, claims = await _valid_claims(api, settings)
    doc = keyset_document(settings)
    public_pem = doc["keys"][0]["public_key"].encode()
    signing_input = _segments({"alg": "HS256", "typ": "at+jwt", "kid": doc["active_kid"]}, claims)
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert (await _me(client, signing_input + "." + _b64(signature))).status_code == 401


async def test_unknown_kid_is_refused(client, api, settings):
    account, claims = await _valid_claims(api, settings)
    stranger = ed25519.Ed25519PrivateKey.generate()
    token = jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": "not-in-the-keyset", "typ": "at+jwt"})
    assert (await _me(client, token)).status_code == 401
    # Same stranger key under the real kid: the signature does not verify.
    token = jwt.encode(claims, stranger, algorithm="EdDSA",
                       headers={"kid": keyset_document(settings)["active_kid"], "typ": "at+jwt"})
    assert (await _me(client, token)).status_code == 401


async def test_expired_and_not_yet_valid_tokens_are_refused(client, api, settings):
    account, claims = await _valid_claims(api, settings)
    past = int(time.time()) - 3600
    expired = access_claims(settings, account.id, sid=claims["sid"], iat=past, nbf=past, exp=past + 900)
    r = await _me(client, sign_with_keyset(settings, expired))
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    future = int(time.time()) + 3600
    early = access_claims(settings, account.id, sid=claims["sid"], iat=future, nbf=future, exp=future + 900)
    assert (await _me(client, sign_with_keyset(settings, early))).status_code == 401


async def test_missing_required_claims_are_refused(client, api, settings):
    account, claims = await _valid_claims(api, settings)
    for missing in ("exp", "nbf", "iat", "iss", "aud"):
        token = sign_with_keyset(settings, access_claims(settings, account.id, sid=claims["sid"], **{missing: None}))
        assert (await _me(client, token)).status_code == 401, missing


async def test_tampered_payload_is_refused(client, api, settings):
    account, claims = await _valid_claims(api, settings)
    header_b64, _, signature_b64 = account.access_token.split(".")
    forged = {**claims, "role": "admin", "sub": claims["sub"]}
    token = header_b64 + "." + _b64(json.dumps(forged).encode()) + "." + signature_b64
    assert (await _me(client, token)).status_code == 401
    # Flipping one signature character breaks it too.
    flipped = account.access_token[:-2] + ("A" if account.access_token[-2] != "A" else "B") + account.access_token[-1]
    assert (await _me(client, flipped)).status_code == 401


async def test_wrong_audience_or_issuer_is_refused(client, api, settings):
    account, claims = await _valid_claims(api, settings)
    for override in ({"aud": "another-api"}, {"iss": "someone-else"}):
        token = sign_with_keyset(settings, access_claims(settings, account.id, sid=claims["sid"], **override))
        assert (await _me(client, token)).status_code == 401, override


async def test_refresh_and_mfa_tokens_are_not_access_tokens(client, api, settings):
    account, claims = await _valid_claims(api, settings)
    assert (await _me(client, account.refresh_token)).status_code == 401
    # A validly signed token of the MFA type, and an access-typed header over MFA claims.
    mfa_claims = access_claims(settings, account.id, token_use="mfa", exp=int(time.time()) + 120)
    assert (await _me(client, sign_with_keyset(settings, mfa_claims, typ="mfa+jwt"))).status_code == 401
    assert (await _me(client, sign_with_keyset(settings, mfa_claims, typ="at+jwt"))).status_code == 401
    # And an access token is not an MFA challenge.
    r = await client.post("/auth/login/mfa", json={"mfa_token": account.access_token, "code": "123456"})
    assert r.status_code == 401


async def test_garbage_and_other_schemes_are_refused(client):
    for header in ("Bearer", "Bearer not.a.jwt", "Bearer a.b", "Basic dXNlcjpwYXNz", "Token abc"):
        r = await client.get("/users/me", headers={"Authorization": header})
        assert r.status_code == 401, header
