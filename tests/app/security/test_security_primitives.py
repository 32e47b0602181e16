"""PII cipher, blind index, TOTP and typed tokens."""

from __future__ import annotations

import base64
import json
import os
import time

import pyotp
import pytest

from app.core.errors import Unauthorized
from app.core.security import totp
from app.core.security.crypto import CryptoConfigError, DecryptionError, PiiCipher, decode_key
from app.core.security.keys import KeyManager, generate_key, generate_keyset, write_keyset
from app.core.security.tokens import TokenPolicy, TokenService, TokenType


def _cipher() -> PiiCipher:
    return PiiCipher(os.urandom(32), os.urandom(32))


def test_encryption_round_trip_is_randomised_and_bound_to_its_column():
    cipher = _cipher()
    a = cipher.encrypt("Ada Lovelace", context="users.name")
    b = cipher.encrypt("Ada Lovelace", context="users.name")
    assert a != b and b"Ada" not in a
    assert cipher.decrypt(a, context="users.name") == "Ada Lovelace"
    with pytest.raises(DecryptionError):
        cipher.decrypt(a, context="users.email")
    with pytest.raises(DecryptionError):
        _cipher().decrypt(a, context="users.name")


def test_blind_index_is_deterministic_keyed_and_case_insensitive_for_email():
    cipher = _cipher()
    assert cipher.email_index("Ada@Example.com ") == cipher.email_index("ada@example.com")
    assert cipher.email_index("ada@example.com") != _cipher().email_index("ada@example.com")
    assert len(cipher.email_index("x@example.com")) == 64


def test_keys_are_validated():
    good = base64.b64encode(os.urandom(32)).decode()
    assert len(decode_key(good, "K")) == 32
    for bad in (None, "", "not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(CryptoConfigError):
            decode_key(bad, "K")
    same = os.urandom(32)
    with pytest.raises(CryptoConfigError):
        PiiCipher(same, same)


def test_totp_accepts_adjacent_steps_once():
    secret = totp.new_secret()
    now = time.time()
    code = pyotp.TOTP(secret).at(now)
    step = totp.matching_step(secret, code, None, now)
    assert step == int(now // 30)
    assert totp.matching_step(secret, code, step, now) is None  # replay
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now + 30), step, now) == step + 1
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now - 120), None, now) is None
    assert totp.matching_step(secret, "12345", None, now) is None


def test_recovery_codes_are_distinct_and_normalised():
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == 10 and all(len(c) == 11 and c[5] == "-" for c in codes)
    assert totp.normalize_recovery_code(" " + codes[0].upper().replace("-", "") + " ") == codes[0]


def _tokens(tmp_path, **policy) -> TokenService:
    path = tmp_path / "keyset.json"
    write_keyset(path, generate_keyset())
    defaults = dict(issuer="storefront", audience="storefront-api", access_ttl=900, mfa_ttl=300, leeway=0)
    return TokenService(KeyManager(path), TokenPolicy(**{**defaults, **policy}))


def test_each_token_type_is_valid_only_as_itself(tmp_path):
    service = _tokens(tmp_path)
    access, ttl = service.issue(TokenType.ACCESS, "user-1")
    mfa, mfa_ttl = service.issue(TokenType.MFA, "user-1")
    assert (ttl, mfa_ttl) == (900, 300)
    assert service.verify(access, TokenType.ACCESS)["sub"] == "user-1"
    assert service.verify(mfa, TokenType.MFA)["token_use"] == "mfa"
    with pytest.raises(Unauthorized):
        service.verify(access, TokenType.MFA)
    with pytest.raises(Unauthorized):
        service.verify(mfa, TokenType.ACCESS)


def test_tokens_from_another_issuer_config_are_refused(tmp_path):
    ours = _tokens(tmp_path)
    token, _ = ours.issue(TokenType.ACCESS, "user-1")
    theirs = TokenService(ours.keys, TokenPolicy("storefront", "other-api", 900, 300, 0))
    with pytest.raises(Unauthorized):
        theirs.verify(token, TokenType.ACCESS)


def test_a_remembered_token_still_follows_the_keyset(tmp_path):
    """Verified tokens are remembered per keyset: rotation keeps old tokens valid, a key that
    leaves the keyset takes its remembered tokens with it at once."""
    service = _tokens(tmp_path)
    path = service.keys.path
    first = json.loads(path.read_text())
    old_token, _ = service.issue(TokenType.ACCESS, "user-1")
    assert service.verify(old_token, TokenType.ACCESS)["sub"] == "user-1"

    # Rotation: a new active key, the old one retired but still listed.
    new_key = generate_key()
    retired = {**first["keys"][0], "state": "retired"}
    write_keyset(path, {"version": 1, "active_kid": new_key["kid"], "keys": [new_key, retired]})
    new_token, _ = service.issue(TokenType.ACCESS, "user-2")
    assert service.keys.signing_key().kid == new_key["kid"]
    assert service.verify(old_token, TokenType.ACCESS)["sub"] == "user-1"
    assert service.verify(new_token, TokenType.ACCESS)["sub"] == "user-2"

    # Pruned: the old key's tokens are refused although they verified a moment ago.
    write_keyset(path, {"version": 1, "active_kid": new_key["kid"], "keys": [new_key]})
    with pytest.raises(Unauthorized, match="unknown key"):
        service.verify(old_token, TokenType.ACCESS)
    assert service.verify(new_token, TokenType.ACCESS)["sub"] == "user-2"


def test_a_remembered_token_expires_on_time(tmp_path):
    service = _tokens(tmp_path, access_ttl=1)
    token, _ = service.issue(TokenType.ACCESS, "user-1")
    exp = service.verify(token, TokenType.ACCESS)["exp"]
    refused = None
    deadline = time.monotonic() + 5
    while refused is None and time.monotonic() < deadline:
        try:
            service.verify(token, TokenType.ACCESS)  # remembered: only the time claims are checked
        except Unauthorized as exc:
            refused = exc
    assert refused is not None and refused.detail == "token expired"
    assert time.time() >= exp


def test_returned_claims_cannot_change_a_remembered_token(tmp_path):
    service = _tokens(tmp_path)
    token, _ = service.issue(TokenType.ACCESS, "user-1")
    service.verify(token, TokenType.ACCESS)["sub"] = "someone-else"
    assert service.verify(token, TokenType.ACCESS)["sub"] == "user-1"
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):  # failures are not remembered either way
        with pytest.raises(Unauthorized):
            service.verify(tampered, TokenType.ACCESS)


async def test_the_app_refuses_to_start_without_usable_pii_keys(tmp_path):
    from app.core.config import Settings
    from app.core.security.runtime import start_security

    write_keyset(tmp_path / "keyset.json", generate_keyset())
    for bad in ({}, {"pii_encryption_key": "c2hvcnQ=", "blind_index_key": base64.b64encode(os.urandom(32)).decode()}):
        with pytest.raises(CryptoConfigError):
            await start_security(Settings(jwt_keyset_file=tmp_path / "keyset.json", **bad))


def test_issuing_without_a_keyset_is_a_503_not_a_crash(tmp_path):
    from app.core.errors import ServiceUnavailable

    service = TokenService(KeyManager(tmp_path / "absent.json"), TokenPolicy("storefront", "storefront-api", 900, 300, 0))
    with pytest.raises(ServiceUnavailable):
        service.issue(TokenType.ACCESS, "user-1")
    with pytest.raises(Unauthorized):
        service.verify("a.b.c", TokenType.ACCESS)
