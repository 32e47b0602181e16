"""The process-wide security objects, built once from Settings.

``start_security(settings)`` runs at application start (it also starts the keyset poller);
``stop_security()`` at shutdown. Command-line tools call ``configure_security`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from app.core.config import Settings, get_settings
from app.core.security.crypto import PiiCipher, decode_key
from app.core.security.keys import KeyManager
from app.core.security.passwords import PasswordService, load_password_lists
from app.core.security.tokens import TokenPolicy, TokenService


@dataclass
class Security:
    settings: Settings
    passwords: PasswordService
    keys: KeyManager
    tokens: TokenService
    _cipher: PiiCipher | None = None

    @property
    def cipher(self) -> PiiCipher:
        # Built lazily so a missing PII key fails the requests that need it with a clear
        # message, not the import of every tool.
        if self._cipher is None:
            self._cipher = PiiCipher(
                decode_key(_secret(self.settings.pii_encryption_key), "STOREFRONT_PII_ENCRYPTION_KEY"),
                decode_key(_secret(self.settings.blind_index_key), "STOREFRONT_BLIND_INDEX_KEY"),
            )
        return self._cipher


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


_current: Security | None = None
# Every keyset poller started in this process, so shutdown stops them all (tests build
# several apps in one process; production has one).
_started: list[KeyManager] = []


def configure_security(settings: Settings) -> Security:
    global _current
    keys = KeyManager(settings.jwt_keyset_file, settings.jwt_keyset_poll_seconds)
    policy = TokenPolicy(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=settings.access_token_ttl_seconds,
        mfa_ttl=settings.mfa_token_ttl_seconds,
        leeway=settings.jwt_clock_skew_seconds,
    )
    _current = Security(
        settings=settings,
        passwords=PasswordService(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism,
                                  settings.password_hash_threads or None),
        keys=keys,
        tokens=TokenService(keys, policy),
    )
    return _current


def get_security() -> Security:
    if _current is None:
        return configure_security(get_settings())
    return _current


async def start_security(settings: Settings) -> Security:
    security = configure_security(settings)
    # A missing or malformed PII key would otherwise surface as a 500 on the first login:
    # refuse to start instead, with the setting named.
    security.cipher  # noqa: B018
    # The breached-password lists load once per process, here rather than on the first sign-up.
    load_password_lists()
    security.keys.start()
    _started.append(security.keys)
    return security


async def stop_security() -> None:
    while _started:
        await _started.pop().stop()
