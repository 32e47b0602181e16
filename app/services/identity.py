"""Wires the identity services to the process's settings, security objects and Redis."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.config import Settings
from app.core.security.runtime import Security
from app.services.login_throttle import LoginThrottle, ThrottlePolicy
from app.services.refresh_tokens import RefreshPolicy, RefreshTokenService
from app.services.session_state import SessionStateCache


@dataclass
class Identity:
    settings: Settings
    security: Security
    redis: object | None
    refresh_tokens: RefreshTokenService
    throttle: LoginThrottle
    session_state: SessionStateCache


def build_identity(security: Security, redis) -> Identity:
    s = security.settings
    return Identity(
        settings=s,
        security=security,
        redis=redis,
        refresh_tokens=RefreshTokenService(RefreshPolicy(s.refresh_token_ttl_seconds, s.refresh_token_idle_seconds)),
        throttle=LoginThrottle(redis, ThrottlePolicy(
            window_seconds=s.login_failure_window_seconds,
            per_account_ip=s.login_max_failures_per_account_ip,
            per_account=s.login_max_failures_per_account,
            per_ip=s.login_max_failures_per_ip,
            base_seconds=s.login_lockout_base_seconds,
            max_seconds=s.login_lockout_max_seconds,
        )),
        session_state=SessionStateCache(
            redis, s.auth_state_cache_seconds, s.access_token_ttl_seconds + s.jwt_clock_skew_seconds + 60
        ),
    )
