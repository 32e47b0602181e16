"""TOTP MFA: enrol, confirm, second login step, recovery codes, disabling, admin requirement."""

from __future__ import annotations

import time

import pyotp
from identity_helpers import audit_events, unverified_claims


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def _enrolled(client, api):
    account = await api.user()
    r = await client.post("/auth/mfa/totp/enroll", headers=account.headers)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.json()["otpauth_uri"].startswith("otpauth://totp/")
    r = await client.post("/auth/mfa/totp/confirm", json={"code": _code(secret)}, headers=account.headers)
    assert r.status_code == 200, r.text
    return account, secret, r.json()["recovery_codes"]


async def _challenge(client, account) -> str:
    r = await client.post("/auth/login", json={"email": account.email, "password": account.password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {"mfa_required": True, "mfa_token": body["mfa_token"]}
    return body["mfa_token"]


async def test_enrolment_needs_a_valid_first_code(client, api):
    account = await api.user()
    secret = (await client.post("/auth/mfa/totp/enroll", headers=account.headers)).json()["secret"]
    wrong = "000000" if _code(secret) != "000000" else "111111"
    r = await client.post("/auth/mfa/totp/confirm", json={"code": wrong}, headers=account.headers)
    assert r.status_code == 403
    assert (await client.get("/users/me", headers=account.headers)).json()["mfa_enabled"] is False
    assert (await client.post("/auth/mfa/totp/confirm", json={"code": "12ab56"}, headers=account.headers)).status_code == 422


async def test_confirm_without_enrolment_and_double_enrolment_conflict(client, api):
    account = await api.user()
    assert (await client.post("/auth/mfa/totp/confirm", json={"code": "123456"}, headers=account.headers)).status_code == 409
    account, _, _ = await _enrolled(client, api)
    assert (await client.post("/auth/mfa/totp/enroll", headers=account.headers)).status_code == 409


async def test_mfa_routes_need_a_user(client):
    assert (await client.post("/auth/mfa/totp/enroll")).status_code == 401


async def test_mfa_login_with_the_code_from_the_enrolled_secret(client, api, postgres_server, database_name):
    account, secret, codes = await _enrolled(client, api)
    assert len(codes) == 10 and len(set(codes)) == 10
    mfa_token = await _challenge(client, account)
    assert unverified_claims(mfa_token)["token_use"] == "mfa"
    # The MFA token alone is no access token.
    assert (await client.get("/users/me", headers={"Authorization": f"Bearer {mfa_token}"})).status_code == 401
    wrong = "000000" if _code(secret, 1) != "000000" else "111111"
    assert (await client.post("/auth/login/mfa", json={"mfa_token": mfa_token, "code": wrong})).status_code == 401
    r = await client.post("/auth/login/mfa", json={"mfa_token": mfa_token, "code": _code(secret, 1)})
    assert r.status_code == 200, r.text
    pair = r.json()
    assert unverified_claims(pair["access_token"])["amr"] == ["pwd", "otp"]
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200 and me.json()["mfa_enabled"] is True
    # Refreshed tokens keep the second factor.
    refreshed = (await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})).json()
    assert unverified_claims(refreshed["access_token"])["amr"] == ["pwd", "otp"]
    # The same challenge and the same code do not work twice...
    again = await client.post("/auth/login/mfa", json={"mfa_token": mfa_token, "code": _code(secret, 1)})
    assert again.status_code == 401
    # ...nor does the same challenge with another valid code (it would open a second session).
    again = await client.post("/auth/login/mfa", json={"mfa_token": mfa_token, "code": codes[0]})
    assert again.status_code == 401 and "already used" in again.json()["detail"]
    events = await audit_events(postgres_server, database_name, account.id)
    assert "auth.login.failure|failure" in events and "auth.mfa.enabled|success" in events


async def test_a_used_totp_code_is_refused_on_the_next_login(client, api):
    account, secret, _ = await _enrolled(client, api)
    code = _code(secret, 1)
    assert (await client.post("/auth/login/mfa", json={"mfa_token": await _challenge(client, account), "code": code})).status_code == 200
    assert (await client.post("/auth/login/mfa", json={"mfa_token": await _challenge(client, account), "code": code})).status_code == 401


async def test_recovery_codes_are_single_use(client, api):
    account, _, codes = await _enrolled(client, api)
    r = await client.post("/auth/login/mfa", json={"mfa_token": await _challenge(client, account), "code": codes[0].upper()})
    assert r.status_code == 200, r.text
    r = await client.post("/auth/login/mfa", json={"mfa_token": await _challenge(client, account), "code": codes[0]})
    assert r.status_code == 401
    r = await client.post("/auth/login/mfa", json={"mfa_token": await _challenge(client, account), "code": codes[1]})
    assert r.status_code == 200


async def test_disable_needs_password_and_code(client, api):
    account, secret, codes = await _enrolled(client, api)
    r = await client.post("/auth/mfa/totp/disable", json={"password": "orchard-lantern-wrong", "code": _code(secret, 1)},
                          headers=account.headers)
    assert r.status_code == 403
    wrong = "000000" if _code(secret, 1) != "000000" else "111111"
    r = await client.post("/auth/mfa/totp/disable", json={"password": account.password, "code": wrong},
                          headers=account.headers)
    assert r.status_code == 403
    r = await client.post("/auth/mfa/totp/disable", json={"password": account.password, "code": codes[0]},
                          headers=account.headers)
    assert r.status_code == 204
    r = await client.post("/auth/login", json={"email": account.email, "password": account.password})
    assert "access_token" in r.json()
    r = await client.post("/auth/mfa/totp/disable", json={"password": account.password, "code": "123456"},
                          headers=account.headers)
    assert r.status_code == 409


async def test_admins_must_use_mfa_when_configured(app_with, api, client):
    admin = await api.admin()
    async with app_with(mfa_required_for_admins=True) as strict:
        r = await strict.get("/users", headers=admin.headers)
        assert r.status_code == 403 and "MFA" in r.json()["detail"]
        secret = (await strict.post("/auth/mfa/totp/enroll", headers=admin.headers)).json()["secret"]
        assert (await strict.post("/auth/mfa/totp/confirm", json={"code": _code(secret)}, headers=admin.headers)).status_code == 200
        r = await strict.post("/auth/login", json={"email": admin.email, "password": admin.password})
        token = r.json()["mfa_token"]
        r = await strict.post("/auth/login/mfa", json={"mfa_token": token, "code": _code(secret, 1)})
        assert r.status_code == 200
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert (await strict.get("/users", headers=headers)).status_code == 200
        # Required means it cannot be switched off either.
        r = await strict.post("/auth/mfa/totp/disable", json={"password": admin.password, "code": _code(secret, 1)},
                              headers=headers)
        assert r.status_code == 403
