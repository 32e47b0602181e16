"""The signing keyset file (docs/interfaces.md): parse, validate, sign with the active key,
verify with every listed key, and pick up a changed file without a restart.

Reload happens two ways: every use stats the file (cheap; catches the kubelet's atomic
``..data`` symlink swap through the changed inode/mtime), and a background poller re-reads
the content periodically (catches a rewrite that kept mtime and size). A malformed file is
logged and the previous keyset stays in force.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

log = logging.getLogger("storefront.keys")

SUPPORTED_ALGS = ("EdDSA", "ES256")
STATES = ("pending", "active", "retired")


class KeysetError(ValueError):
    """The keyset file is missing, unreadable or breaks the format."""


@dataclass(frozen=True)
class JwtKey:
    kid: str
    alg: str
    state: str
    public_key: Any
    private_key: Any | None

    def jwk(self) -> dict[str, str]:
        if self.alg == "EdDSA":
            raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            fields = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}
        else:
            numbers = self.public_key.public_numbers()
            fields = {"kty": "EC", "crv": "P-256", "x": _b64url(numbers.x.to_bytes(32, "big")),
                      "y": _b64url(numbers.y.to_bytes(32, "big"))}
        return {**fields, "kid": self.kid, "alg": self.alg, "use": "sig"}


@dataclass(frozen=True)
class Keyset:
    active_kid: str
    keys: dict[str, JwtKey]
    fingerprint: str

    @property
    def active(self) -> JwtKey:
        return self.keys[self.active_kid]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _key_matches_alg(alg: str, key: Any) -> bool:
    if alg == "EdDSA":
        return isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey))
    return isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) and isinstance(
        key.curve, ec.SECP256R1
    )


def _public_bytes(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_keyset(content: bytes) -> Keyset:
    """Validates the whole document; any problem raises KeysetError naming the field."""
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeysetError(f"keyset is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise KeysetError("keyset must be an object with version 1")
    entries = doc.get("keys")
    if not isinstance(entries, list) or not entries:
        raise KeysetError("keyset.keys must be a non-empty list")
    keys: dict[str, JwtKey] = {}
    for index, entry in enumerate(entries):
        key = _parse_key(entry, index)
        if key.kid in keys:
            raise KeysetError(f"keyset.keys[{index}]: duplicate kid {key.kid!r}")
        keys[key.kid] = key
    active_kid = doc.get("active_kid")
    if active_kid not in keys:
        raise KeysetError(f"active_kid {active_kid!r} is not one of the keys")
    active = keys[active_kid]
    if active.state != "active" or active.private_key is None:
        raise KeysetError(f"active key {active_kid!r} must have state 'active' and a private_key")
    extra_active = [k.kid for k in keys.values() if k.state == "active" and k.kid != active_kid]
    if extra_active:
        raise KeysetError(f"only the active_kid may have state 'active', also found {extra_active}")
    return Keyset(active_kid=active_kid, keys=keys, fingerprint=hashlib.sha256(content).hexdigest())


def _parse_key(entry: Any, index: int) -> JwtKey:
    where = f"keyset.keys[{index}]"
    if not isinstance(entry, dict):
        raise KeysetError(f"{where} must be an object")
    kid, alg, state = entry.get("kid"), entry.get("alg"), entry.get("state")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise KeysetError(f"{where}.kid must be a non-empty string")
    if alg not in SUPPORTED_ALGS:
        raise KeysetError(f"{where}.alg must be one of {SUPPORTED_ALGS}, got {alg!r}")
    if state not in STATES:
        raise KeysetError(f"{where}.state must be one of {STATES}, got {state!r}")
    try:
        public_key = serialization.load_pem_public_key(str(entry.get("public_key", "")).encode())
    except (ValueError, TypeError):
        raise KeysetError(f"{where}.public_key is not a PEM public key") from None
    if not _key_matches_alg(alg, public_key):
        raise KeysetError(f"{where}.public_key does not fit alg {alg}")
    private_key = None
    if entry.get("private_key"):
        try:
            private_key = serialization.load_pem_private_key(str(entry["private_key"]).encode(), password=None)
        except (ValueError, TypeError):
            raise KeysetError(f"{where}.private_key is not an unencrypted PKCS#8 PEM key") from None
        if not _key_matches_alg(alg, private_key):
            raise KeysetError(f"{where}.private_key does not fit alg {alg}")
        if _public_bytes(private_key.public_key()) != _public_bytes(public_key):
            raise KeysetError(f"{where}: private_key and public_key are not a pair")
    return JwtKey(kid=kid, alg=alg, state=state, public_key=public_key, private_key=private_key)


# -- generation (local runs, tests) ------------------------------------------------------------


def _utc_stamp(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_key(alg: str = "EdDSA", state: str = "active", now: dt.datetime | None = None) -> dict[str, Any]:
    if alg not in SUPPORTED_ALGS:
        raise ValueError(f"alg must be one of {SUPPORTED_ALGS}")
    now = now or dt.datetime.now(dt.UTC)
    private = ed25519.Ed25519PrivateKey.generate() if alg == "EdDSA" else ec.generate_private_key(ec.SECP256R1())
    return {
        "kid": f"sf-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}",
        "alg": alg,
        "state": state,
        "private_key": private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "public_key": _public_bytes(private.public_key()).decode(),
        "created_at": _utc_stamp(now),
        "activated_at": _utc_stamp(now) if state == "active" else None,
        "retired_at": None,
    }


def generate_keyset(alg: str = "EdDSA") -> dict[str, Any]:
    key = generate_key(alg)
    return {"version": 1, "active_kid": key["kid"], "keys": [key]}


def write_keyset(path: Path, keyset: dict[str, Any]) -> None:
    """Atomic replace (temp file + rename), readable by the owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keyset-")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(keyset, handle, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the live keyset ---------------------------------------------------------------------------


class KeyManager:
    def __init__(self, path: Path, poll_seconds: float = 2.0):
        self.path = Path(path)
        self.poll_seconds = poll_seconds
        self._keyset: Keyset | None = None
        self._stat_sig: tuple[int, int, int] | None = None
        self._poller: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)  # follows the Secret volume's symlinks
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def reload(self, *, force: bool = False) -> bool:
        """Re-reads the file if it changed; returns True when a new keyset took effect."""
        sig = self._stat()
        if not force and sig is not None and sig == self._stat_sig and self._keyset is not None:
            return False
        try:
            content = self.path.read_bytes()
        except OSError as exc:
            self._note_error(f"cannot read keyset file {self.path}: {exc.strerror}")
            return False
        self._stat_sig = sig
        if self._keyset is not None and hashlib.sha256(content).hexdigest() == self._keyset.fingerprint:
            return False
        try:
            keyset = parse_keyset(content)
        except KeysetError as exc:
            self._note_error(f"keyset file {self.path} rejected, keeping the previous keyset: {exc}")
            return False
        previous = self._keyset
        self._keyset = keyset
        self.last_error = None
        log.info("keyset loaded", extra={"active_kid": keyset.active_kid, "kids": sorted(keyset.keys),
                                         "previous_active_kid": previous.active_kid if previous else None})
        return True

    def _note_error(self, message: str) -> None:
        if message != self.last_error:
            log.error(message)
        self.last_error = message

    @property
    def keyset(self) -> Keyset:
        self.reload()
        if self._keyset is None:
            raise KeysetError(self.last_error or f"no keyset loaded from {self.path}")
        return self._keyset

    def ready(self) -> bool:
        try:
            return self.keyset.active.private_key is not None
        except KeysetError:
            return False

    def signing_key(self) -> JwtKey:
        return self.keyset.active

    def verification_key(self, kid: str) -> JwtKey | None:
        return self.keyset.keys.get(kid)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.jwk() for key in self.keyset.keys.values()]}

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                self.reload(force=True)
            except Exception:  # the poller must outlive any surprise
                log.exception("keyset poll failed")

    def start(self) -> None:
        self.reload(force=True)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll(), name="keyset-poller")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
            self._poller = None
