"""TOTP (RFC 6238) via pyotp, and recovery codes.

A code is accepted in the current 30 s step or one step either side (clock drift), and each
step can be used once: the caller stores the last accepted step and passes it back.
"""

from __future__ import annotations

import secrets
import time

import pyotp

DIGITS = 6
INTERVAL = 30
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes


def new_secret() -> str:
    return pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, last_used_step: int | None, now: float | None = None) -> int | None:
    """The time step the code belongs to, or None if it is wrong or was already used."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    now = time.time() if now is None else now
    current = int(now // INTERVAL)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if secrets.compare_digest(totp.at(step * INTERVAL), code):
            if last_used_step is not None and step <= last_used_step:
                return None  # replay of a code already accepted
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    def one() -> str:
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))  # ~49 bits
        return f"{raw[:5]}-{raw[5:]}"

    return [one() for _ in range(count)]


def normalize_recovery_code(code: str) -> str:
    raw = code.strip().lower().replace("-", "").replace(" ", "")
    return f"{raw[:5]}-{raw[5:]}" if len(raw) == 10 else raw
