"""Password hashing (argon2id) and the password policy (ASVS 6.2: length, common passwords).

Unknown accounts are checked against a dummy hash so a login takes the same path and about the
same time whether or not the email exists.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.core.cpus import available_cpus
from app.core.tracing import span

MIN_LENGTH = 12
MAX_LENGTH = 128

# Leetspeak a guesser tries first; undone before comparing with the common lists.
_LEET = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s", "5": "s", "7": "t"})
_EDGE_NOISE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


class WeakPassword(ValueError):
    """The password breaks the policy; the message says why and is safe to show."""


@lru_cache
def _common_passwords() -> frozenset[str]:
    return _read_list("common_passwords.txt")


@lru_cache
def _common_roots() -> frozenset[str]:
    return _read_list("common_password_roots.txt")


def _read_list(name: str) -> frozenset[str]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def check_password_policy(password: str, *, email: str | None = None, name: str | None = None) -> None:
    """Raises WeakPassword when the password is too short/long or too easy to guess."""
    length = len(password)
    if length < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters")
    if length > MAX_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if len(set(lowered)) <= 2:
        raise WeakPassword("password is too repetitive")
    candidates = {lowered, lowered.translate(_LEET), lowered.replace(" ", "")}
    if candidates & _common_passwords():
        raise WeakPassword("password is too common")
    cores = {_EDGE_NOISE.sub("", c) for c in candidates} | {_EDGE_NOISE.sub("", lowered).translate(_LEET)}
    roots = _common_roots()
    if any(core in roots or _is_repeat_of_root(core, roots) for core in cores):
        raise WeakPassword("password is a common word with digits or symbols added")
    for personal in _personal_words(email, name):
        if personal in lowered:
            raise WeakPassword("password must not contain your email or name")


def _is_repeat_of_root(core: str, roots: frozenset[str]) -> bool:
    half = len(core) // 2
    return len(core) % 2 == 0 and core[:half] == core[half:] and core[:half] in roots


def _personal_words(email: str | None, name: str | None) -> list[str]:
    words = []
    if email:
        words.append(email.split("@", 1)[0].lower())
    if name:
        words.extend(part.lower() for part in name.split())
    # Very short parts ("jo") would refuse far too much; only refuse the meaningful ones.
    return [w for w in words if len(w) >= 4]


@lru_cache
def _argon2_pool(threads: int) -> ThreadPoolExecutor:
    # Shared by every PasswordService of the process with this width (tests build many apps).
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")


class PasswordService:
    """argon2id hasher with configurable cost; the cost never drops below OWASP's minimum.

    The async methods run argon2 in a pool of ``threads`` workers (default: one per usable
    CPU) so the event loop stays free. The pool is deliberately that narrow: argon2 releases
    the GIL and needs ``memory_kib`` per call, so more calls at once than cores only thrash the
    caches, slow every login down and multiply the memory a burst of logins can claim.
    Further calls queue.
    """

    def __init__(self, memory_kib: int = 19 * 1024, time_cost: int = 2, parallelism: int = 1,
                 threads: int | None = None):
        if memory_kib < 19 * 1024 or time_cost < 2 or parallelism < 1:
            raise ValueError("argon2id parameters below the OWASP minimum (m=19 MiB, t=2, p=1)")
        self.threads = threads or available_cpus()
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, hash_len=32, salt_len=16,
            type=Type.ID,
        )
        # Checked when the email is unknown, so that path costs what a real check costs.
        self._dummy_hash = self._hasher.hash("dummy password for unknown accounts")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches; with no hash, burns the same time and returns False."""
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # The spans cover the wait for a pool thread too: under a burst of logins that is the cost.
    async def hash_async(self, password: str) -> str:
        with span("argon2.hash"):
            return await asyncio.get_running_loop().run_in_executor(_argon2_pool(self.threads), self.hash, password)

    async def verify_async(self, password_hash: str | None, password: str) -> bool:
        with span("argon2.verify"):
            return await asyncio.get_running_loop().run_in_executor(
                _argon2_pool(self.threads), self.verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
