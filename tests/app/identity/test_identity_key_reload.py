"""The keyset file is re-read while the app runs: publish, activate, retire, prune, and a
broken file that changes nothing."""

from __future__ import annotations

import asyncio
import json

from identity_helpers import access_claims, keyset_document, sign_with_keyset, unverified_claims

from app.core.security.keys import generate_key, write_keyset


async def _me(client, token):
    return await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})


async def _kids(client) -> list[str]:
    return [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]


async def test_rotation_through_the_file_without_restart(client, api, settings):
    account = await api.user()
    old_doc = keyset_document(settings)
    old_kid = old_doc["active_kid"]
    claims = unverified_claims(account.access_token)

    # 1. Publish a new key (pending): it verifies but does not sign yet.
    new_key = generate_key("ES256", state="pending")
    write_keyset(settings.jwt_keyset_file, {**old_doc, "keys": old_doc["keys"] + [new_key]})
    assert set(await _kids(client)) == {old_kid, new_key["kid"]}
    by_new_key = sign_with_keyset(settings, access_claims(settings, account.id, sid=claims["sid"]), kid=new_key["kid"])
    assert (await _me(client, by_new_key)).status_code == 200
    assert (await _me(client, account.access_token)).status_code == 200
    fresh = await api.login(account.email, account.password)
    assert json.loads(_header(fresh["access_token"]))["kid"] == old_kid

    # 2. Activate it and retire the old one: new tokens are signed by the new key, old ones still verify.
    doc = keyset_document(settings)
    for key in doc["keys"]:
        key["state"] = "active" if key["kid"] == new_key["kid"] else "retired"
    write_keyset(settings.jwt_keyset_file, {**doc, "active_kid": new_key["kid"]})
    fresh = await api.login(account.email, account.password)
    header = json.loads(_header(fresh["access_token"]))
    assert header["kid"] == new_key["kid"] and header["alg"] == "ES256"
    assert (await _me(client, fresh["access_token"])).status_code == 200
    assert (await _me(client, account.access_token)).status_code == 200

    # 3. Prune the old key: tokens it signed stop verifying.
    doc = keyset_document(settings)
    write_keyset(settings.jwt_keyset_file, {**doc, "keys": [k for k in doc["keys"] if k["kid"] != old_kid]})
    assert await _kids(client) == [new_key["kid"]]
    assert (await _me(client, account.access_token)).status_code == 401
    assert (await _me(client, fresh["access_token"])).status_code == 200


async def test_a_malformed_file_keeps_the_previous_keyset(client, api, settings):
    account = await api.user()
    before = await _kids(client)
    settings.jwt_keyset_file.write_text('{"version": 1, "keys": [')
    await asyncio.sleep(0.5)  # let the poller see it too
    assert await _kids(client) == before
    assert (await _me(client, account.access_token)).status_code == 200
    ready = await client.get("/ready")
    assert ready.json()["checks"]["keys"] == "ok"


async def test_a_replaced_keyset_takes_effect_without_any_request(client, api, settings):
    account = await api.user()
    doc = keyset_document(settings)
    replacement = generate_key("EdDSA")
    # A whole new keyset: the old key vanishes.
    write_keyset(settings.jwt_keyset_file, {"version": 1, "active_kid": replacement["kid"], "keys": [replacement]})
    await asyncio.sleep(0.6)  # poll interval in tests is 0.2 s
    assert client._transport.app.state.key_manager._keyset.active_kid == replacement["kid"]
    assert await _kids(client) == [replacement["kid"]]
    assert (await _me(client, account.access_token)).status_code == 401
    assert doc["active_kid"] != replacement["kid"]


def _header(token: str) -> str:
    import base64

    segment = token.split(".")[0]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
