"""Password hashing (argon2id) and the password policy (ASVS 6.2: length, breached and
guessable passwords).

Unknown accounts are checked against a dummy hash so a login takes the same path and about the
same time whether or not the email exists.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.core.cpus import available_cpus
from app.core.security.password_patterns import MIN_WORD, is_predictable, shortest_period
from app.core.tracing import span

MIN_LENGTH = 12
MAX_LENGTH = 128
ACCEPTED = (f"accepted: {MIN_LENGTH} to {MAX_LENGTH} characters that are not a breached or common password, "
            "a keyboard walk, a sequence or a repetition, nor made from your email or name; "
            "a few unrelated words make a good one")

# Leetspeak a guesser tries first; undone before comparing with the common lists.
_LEET = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s", "5": "s", "7": "t"})
_EDGE_NOISE = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_NOT_LETTERS = re.compile(r"[^\w]|[\d_]")
# Words of this service a password should not be built from (ASVS: context-specific words).
_CONTEXT_WORDS = ("storefront",)


class WeakPassword(ValueError):
    """The password breaks the policy; the message says why and what is accepted, and never
    repeats the password."""

    def __init__(self, reason: str):
        super().__init__(f"{reason}; {ACCEPTED}")
        self.reason = reason


@lru_cache
def _common_passwords() -> frozenset[str]:
    """The passwords refused outright: the breached ones of an allowed length and the compiled list."""
    breached = gzip.decompress(resources.files(__package__).joinpath("breached_passwords.txt.gz").read_bytes())
    return frozenset(breached.decode("utf-8").splitlines()) | _read_list("common_passwords.txt")


@lru_cache
def _common_roots() -> frozenset[str]:
    return _read_list("common_password_roots.txt")


def _read_list(name: str) -> frozenset[str]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("# "))


def load_password_lists() -> int:
    """Loads the lists now (once per process) rather than on the first registration."""
    return len(_common_passwords()) + len(_common_roots())


def check_password_policy(password: str, *, email: str | None = None, name: str | None = None) -> None:
    """Raises WeakPassword when the password is too short/long or too easy to guess."""
    length = len(password)
    if length < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters")
    if length > MAX_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if len(set(lowered)) <= 2 or shortest_period(lowered) < MIN_LENGTH:  # a short password, repeated
        raise WeakPassword("password is too repetitive")
    leet = lowered.translate(_LEET)
    candidates = {lowered, leet, lowered.replace(" ", "")}
    if candidates & _common_passwords():
        raise WeakPassword("password is in a list of breached or common passwords")
    cores = {_EDGE_NOISE.sub("", c) for c in candidates} | {_EDGE_NOISE.sub("", lowered).translate(_LEET)}
    roots = _common_roots()
    if any(core in roots or _is_repeat_of_root(core, roots) for core in cores):
        raise WeakPassword("password is a common word with digits or symbols added")
    personal = _personal_words(email, name)
    squeezed = {re.sub(r"[\W_]+", "", c) for c in (lowered, leet)}
    if any(word in form for word in personal for form in (lowered, leet, *squeezed)):
        raise WeakPassword("password must not contain your email or name")
    words = roots | set(personal)
    if is_predictable(lowered, words) or (leet != lowered and is_predictable(leet, words)):
        raise WeakPassword("password is made of keyboard walks, sequences, repeats or common words")


def _is_repeat_of_root(core: str, roots: frozenset[str]) -> bool:
    half = len(core) // 2
    return len(core) % 2 == 0 and core[:half] == core[half:] and core[:half] in roots


def _personal_words(email: str | None, name: str | None) -> list[str]:
    """The words of the account and the service a password must not contain: the email's local
    part and its words, the domain's names (not the top-level one), the name's words."""
    words = list(_CONTEXT_WORDS)
    if email:
        local, _, domain = email.lower().partition("@")
        words.append(local)
        words.extend(_NOT_LETTERS.split(local))
        words.extend(domain.split(".")[:-1])
    if name:
        words.extend(_NOT_LETTERS.split(name.lower()))
    # Very short parts ("jo") would refuse far too much; only refuse the meaningful ones.
    return [w for w in dict.fromkeys(words) if len(w) >= MIN_WORD]


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
