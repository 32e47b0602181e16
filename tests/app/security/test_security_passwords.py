"""Password policy (breached passwords, patterns, personal data) and argon2id hashing."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import random
import string
import threading
from importlib import resources
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from app.core.cpus import available_cpus
from app.core.security import passwords
from app.core.security.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordService,
    WeakPassword,
    check_password_policy,
)

SAMPLE = Path(__file__).with_name("breached_passwords_sample.txt")


def _sample() -> list[str]:
    return [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("# ")]


@pytest.mark.parametrize("password", [
    "short-pass1",  # 11 characters
    "x" * 129,
    "password1234", "Password2024!", "P@ssw0rd2024", "qwertyuiop12", "1qaz2wsx3edc", "iloveyou1234",
    "123456789012", "aaaaaaaaaaaa", "abababababab", "monkeymonkey", "Sunshine!!2023", "letmein12345",
    "123456123456", "qwertyuiopasdfgh",
])
def test_weak_passwords_are_refused(password):
    with pytest.raises(WeakPassword):
        check_password_policy(password)


def test_the_classic_breached_passwords_of_allowed_length_are_all_refused():
    sample = _sample()
    assert len(sample) == 200 and all(MIN_LENGTH <= len(p) <= MAX_LENGTH for p in sample)
    accepted = []
    for password in sample:
        try:
            check_password_policy(password)
        except WeakPassword:
            continue
        accepted.append(password)
    assert not accepted, f"accepted {len(accepted)} of {len(sample)} breached passwords: {accepted}"


# Walks, sequences and repeats that are in no list: the patterns refuse them by themselves.
@pytest.mark.parametrize(("password", "reason"), [
    ("poiuytrewqlkjhgf", "keyboard walks"),  # rows, backwards
    ("qwertyuiop[]asdf", "keyboard walks"),  # a row with its brackets, then the next
    ("asdfghjkl;'zxcvbnm", "keyboard walks"),
    ("0987654321poiuyt", "keyboard walks"),  # the number row, then the letters
    ("1qaz2wsx3edc4rfv5tgb6yhn", "keyboard walks"),  # columns
    ("!qaz@wsx#edc$rfv", "keyboard walks"),  # the same columns, shifted
    ("q!w@e#r$t%y^u&i*", "keyboard walks"),  # two rows interleaved, shifted
    ("7410852096300", "keyboard walks"),  # the number pad
    ("789456123987456321", "keyboard walks"),
    ("ponmlkjihgfedcba", "sequences"),
    ("5678901234567", "sequences"),  # digits wrap around
    ("a1b2c3d4e5f6g7h8", "sequences"),  # two sequences interleaved
    ("qwerty2024asdfgh", "keyboard walks"),  # walks with a year between
    ("password1234qwerty", "common words"),
    ("abcabcabcabcabc", "repetitive"),
    ("xyzxyzxyzxyz", "repetitive"),
    ("24682468246824", "repetitive"),
    ("hjkl;hjkl;hjkl;", "repetitive"),
    ("xk3!xk3!xk3!xk3!", "repetitive"),  # any short password, repeated to the length
])
def test_patterns_are_refused_without_any_list(password, reason):
    assert password.lower() not in passwords._common_passwords()
    with pytest.raises(WeakPassword, match=reason):
        check_password_policy(password)


@pytest.mark.parametrize("password", [
    "orchard-lantern-river", "correct horse battery", "Tr0ub4dor&3xyz", hashlib.sha512(b"128").hexdigest(),
    "パスワードは秘密の花園です", "violet anchor gravel mosaic", "Kettle-Plover-Quartz-19",
])
def test_reasonable_passwords_pass(password):
    check_password_policy(password)


def test_random_passwords_and_passphrases_pass():
    rng = random.Random(15)
    alphabet = string.ascii_letters + string.digits + "-_"
    for _ in range(1000):
        check_password_policy("".join(rng.choice(alphabet) for _ in range(16)))
    words = ["orchard", "lantern", "river", "violet", "anchor", "gravel", "mosaic", "kettle", "plover", "quartz",
             "meadow", "copper", "thistle", "harbor", "juniper", "walnut", "cinder", "falcon", "pebble", "saffron"]
    for _ in range(300):
        check_password_policy(rng.choice(" -.").join(rng.sample(words, 3)))


def test_the_message_says_what_is_accepted_and_never_the_password():
    with pytest.raises(WeakPassword) as refused:
        check_password_policy("qwertyuiopasdfgh")
    message = str(refused.value)
    assert "accepted: 12 to 128 characters" in message and "qwerty" not in message


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
    with pytest.raises(WeakPassword, match="email or name"):
        check_password_policy("notes-of-lovelace-1815", email="ada.lovelace@example.com")  # a word of the local part
    with pytest.raises(WeakPassword, match="email or name"):
        check_password_policy("L0v3l4c3-analytical!", email="ada.lovelace@example.com")  # in leetspeak
    with pytest.raises(WeakPassword, match="email or name"):
        check_password_policy("engine-of-analytica", email="ada@analytica.co.uk")  # the domain's name
    with pytest.raises(WeakPassword):
        check_password_policy("babbage-engine-1837!", name="Charles Babbage")
    with pytest.raises(WeakPassword, match="email or name"):
        check_password_policy("my-storefront-login", email="ada@example.com")  # the service's own name
    check_password_policy("analytical-engine-1837", name="Al B")  # parts under 4 characters ignored


def test_the_shipped_lists_cover_the_breach_corpora():
    common = passwords._common_passwords()
    assert len(common) > 70000
    assert "password" in passwords._common_roots()
    breached = gzip.decompress(resources.files("app.core.security").joinpath("breached_passwords.txt.gz").read_bytes())
    entries = breached.decode("utf-8").splitlines()
    assert len(entries) == 44282  # docs/auth.md states this size; hack/breached-passwords.py regenerates it
    assert entries == sorted(set(entries)) and all(e == e.lower() and 12 <= len(e) <= 128 for e in entries)


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
