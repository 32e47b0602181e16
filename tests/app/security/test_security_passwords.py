"""Password policy and argon2id hashing."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from argon2 import PasswordHasher

from app.core.cpus import available_cpus
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


class _CountingPasswords(PasswordService):
    """Records how many verifications run at the same moment."""

    def __init__(self, threads: int):
        super().__init__(threads=threads)
        self._lock = threading.Lock()
        self.running = self.peak = 0

    def verify(self, password_hash, password):
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return super().verify(password_hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def test_async_verifications_never_run_wider_than_the_pool():
    service = _CountingPasswords(threads=2)
    digest = service.hash("orchard-lantern-river")
    results = await asyncio.gather(*(service.verify_async(digest, "orchard-lantern-river") for _ in range(8)))
    assert results == [True] * 8
    assert service.peak == 2  # eight logins at once: two verify, six wait their turn
    assert await service.verify_async(digest, "wrong-lantern-river") is False
    assert service.verify(await service.hash_async("a-new-passphrase"), "a-new-passphrase")


def test_the_pool_defaults_to_the_usable_cpus():
    assert PasswordService().threads == available_cpus()
    assert PasswordService(threads=3).threads == 3


@pytest.mark.parametrize(("cpu_max", "expected"), [
    ("max 100000\n", None),        # no quota: the affinity mask decides
    ("150000 100000\n", 2),        # 1.5 CPUs round up
    ("100000 100000\n", 1),
    ("garbage\n", None),
])
def test_a_cgroup_quota_narrows_the_usable_cpus(tmp_path, cpu_max, expected):
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    mask = len(os.sched_getaffinity(0))
    assert available_cpus(path) == (min(mask, expected) if expected else mask)
    assert available_cpus(tmp_path / "missing") == mask
