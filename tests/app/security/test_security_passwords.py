"""Password policy and argon2id hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from app.core.security.passwords import PasswordService, WeakPassword, check_password_policy


@pytest.mark.parametrize("password", [
    "short-pass1",  # 11 characters
    "x" * 129,
    "password1234", "Password2024!", "P@ssw0rd2024", "qwertyuiop12", "1qaz2wsx3edc", "iloveyou1234",
    "123456789012", "aaaaaaaaaaaa", "abababababab", "monkeymonkey", "Sunshine!!2023", "letmein12345",
])
def test_weak_passwords_are_refused(password):
    with pytest.raises(WeakPassword):
        check_password_policy(password)


@pytest.mark.parametrize("password", [
    "orchard-lantern-river", "correct horse battery", "Tr0ub4dor&3xyz", "".join(chr(97 + i * 7 % 26) for i in range(128)), "パスワードは秘密の花園です",
])
def test_reasonable_passwords_pass(password):
    check_password_policy(password)


def test_no_truncation_and_no_composition_rules():
    check_password_policy("all lower case words only")
    long_one = "a-very-long-passphrase-" * 5
    service = PasswordService()
    digest = service.hash(long_one)
    assert service.verify(digest, long_one)
    assert not service.verify(digest, long_one[:-1])  # the last character counts


def test_personal_data_in_the_password_is_refused():
    with pytest.raises(WeakPassword, match="email or name"):
        check_password_policy("ada.lovelace-1815-notes", email="ada.lovelace@example.com")
    with pytest.raises(WeakPassword):
        check_password_policy("babbage-engine-1837!", name="Charles Babbage")
    check_password_policy("analytical-engine-1837", name="Al B")  # parts under 4 characters ignored


def test_the_shipped_list_is_substantial():
    from app.core.security import passwords

    assert len(passwords._common_passwords()) > 5000
    assert all(len(p) >= 12 for p in passwords._common_passwords())
    assert "password" in passwords._common_roots()


def test_hashes_are_argon2id_at_least_owasp():
    service = PasswordService()
    digest = service.hash("orchard-lantern-river")
    assert digest.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    with pytest.raises(ValueError):
        PasswordService(memory_kib=8192)
    with pytest.raises(ValueError):
        PasswordService(time_cost=1)


def test_unknown_account_path_burns_a_real_verification():
    service = PasswordService()
    assert service.verify(None, "anything-at-all-here") is False
    assert service.verify("not-a-hash", "anything-at-all-here") is False


def test_raised_parameters_ask_for_a_rehash():
    old = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash("orchard-lantern-river")
    assert PasswordService().needs_rehash(old) is False
    assert PasswordService(time_cost=3).needs_rehash(old) is True
    assert PasswordService(memory_kib=32768).needs_rehash(old) is True
