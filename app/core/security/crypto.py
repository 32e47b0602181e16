"""PII at rest: AES-256-GCM for values, HMAC-SHA256 blind indexes for exact-match lookups.

Ciphertext layout: 1 version byte, 12-byte random nonce, then GCM ciphertext+tag. The column
name is bound as associated data so a value cannot be moved into another column unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE_BYTES = 12


class CryptoConfigError(RuntimeError):
    """A PII key is missing or malformed."""


class DecryptionError(ValueError):
    """Stored ciphertext does not decrypt with the configured key."""


def decode_key(value: str | None, setting: str) -> bytes:
    if not value:
        raise CryptoConfigError(f"{setting} is not set: give base64 of 32 random bytes (or {setting}_FILE)")
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoConfigError(f"{setting} is not valid base64") from None
    if len(key) != 32:
        raise CryptoConfigError(f"{setting} must decode to 32 bytes, got {len(key)}")
    return key


def normalize_email(email: str) -> str:
    return email.strip().lower()


class PiiCipher:
    def __init__(self, encryption_key: bytes, blind_index_key: bytes):
        if encryption_key == blind_index_key:
            raise CryptoConfigError("the PII encryption key and the blind index key must differ")
        self._aead = AESGCM(encryption_key)
        self._index_key = blind_index_key

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def decrypt(self, blob: bytes, *, context: str) -> str:
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise DecryptionError("unknown ciphertext format")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context.encode()).decode()
        except InvalidTag:
            raise DecryptionError("ciphertext does not match the key or column") from None

    def blind_index(self, value: str, *, context: str) -> str:
        """Deterministic keyed hash (hex) for unique indexes and lookups without the plaintext."""
        return hmac.new(self._index_key, f"{context}:{value}".encode(), hashlib.sha256).hexdigest()

    def email_index(self, email: str) -> str:
        return self.blind_index(normalize_email(email), context="users.email")

    def keyed_digest(self, value: str, *, context: str) -> str:
        """Keyed hash for secrets we only compare (recovery codes): useless without the key."""
        return self.blind_index(value, context=context)
