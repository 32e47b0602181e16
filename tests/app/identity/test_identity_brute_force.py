"""Brute-force protection: per account+IP, per account and per IP, growing and always temporary."""

from __future__ import annotations

import asyncio
import uuid

from identity_helpers import from_address


async def _login(client, email, password):
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_failures_lock_the_account_from_that_address_for_a_growing_while(app_with, api):
    created = await api.register()
    async with app_with(login_max_failures_per_account_ip=3, login_lockout_base_seconds=1) as client:
        for _ in range(3):
            assert (await _login(client, created["email"], "orchard-lantern-wrong")).status_code == 401
        locked = await _login(client, created["email"], created["password"])
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "1"
        assert locked.headers["content-type"].startswith("application/problem+json")
        await asyncio.sleep(1.1)
        # One more failure after the lockout: the next one is twice as long.
        assert (await _login(client, created["email"], "orchard-lantern-wrong")).status_code == 401
        again = await _login(client, created["email"], created["password"])
        assert again.status_code == 429 and again.headers["retry-after"] == "2"
        # Someone else's address is not locked out by these failures.
        async with from_address(client, "198.51.100.7") as elsewhere:
            assert (await _login(elsewhere, created["email"], created["password"])).status_code == 200
        await asyncio.sleep(2.1)
        # The lockout expired by itself, and success resets the count.
        assert (await _login(client, created["email"], created["password"])).status_code == 200
        assert (await _login(client, created["email"], "orchard-lantern-wrong")).status_code == 401


async def test_unknown_emails_are_throttled_like_real_ones(app_with):
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    async with app_with(login_max_failures_per_account_ip=2, login_lockout_base_seconds=5) as client:
        assert [(await _login(client, ghost, "orchard-lantern-wrong")).status_code for _ in range(2)] == [401, 401]
        r = await _login(client, ghost, "orchard-lantern-wrong")
        assert r.status_code == 429 and int(r.headers["retry-after"]) <= 5


async def test_many_accounts_from_one_address_lock_that_address(app_with, api):
    victim = await api.register()
    async with app_with(client_ip="192.0.2.50", login_max_failures_per_ip=4, login_lockout_base_seconds=3) as attacker:
        for _ in range(4):
            sprayed = f"spray-{uuid.uuid4().hex[:8]}@example.com"
            assert (await _login(attacker, sprayed, "orchard-lantern-wrong")).status_code == 401
        r = await _login(attacker, victim["email"], victim["password"])
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 3
        async with from_address(attacker, "192.0.2.51") as neighbour:
            assert (await _login(neighbour, victim["email"], victim["password"])).status_code == 200


async def test_wrong_mfa_codes_count_as_failures(app_with, api):
    import pyotp

    account = await api.user()
    async with app_with(login_max_failures_per_account_ip=2, login_lockout_base_seconds=5) as client:
        headers = account.headers
        secret = (await client.post("/auth/mfa/totp/enroll", headers=headers)).json()["secret"]
        await client.post("/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=headers)
        token = (await _login(client, account.email, account.password)).json()["mfa_token"]
        for _ in range(2):
            r = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": "abcdefghij"})
            assert r.status_code == 401
        r = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": "abcdefghij"})
        assert r.status_code == 429


async def test_logging_in_again_does_not_reset_the_count_of_wrong_mfa_codes(app_with, api):
    import pyotp

    account = await api.user()
    async with app_with(login_max_failures_per_account_ip=3, login_lockout_base_seconds=5) as client:
        secret = (await client.post("/auth/mfa/totp/enroll", headers=account.headers)).json()["secret"]
        await client.post("/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=account.headers)
        statuses = []
        for _ in range(3):
            token = (await _login(client, account.email, account.password)).json()["mfa_token"]
            r = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": "abcdefghij"})
            statuses.append(r.status_code)
        assert statuses == [401, 401, 401]
        assert (await _login(client, account.email, account.password)).status_code == 429
