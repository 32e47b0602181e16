"""Brute-force protection for logins (ASVS 6.3.1): failures are counted per account+IP,
per account and per IP. Past each threshold every further failure locks that scope for
base * 2^n seconds, capped, and counters forget after a quiet window. Nothing is permanent:
a lockout always expires, and the per account+IP scope (the tightest) cannot be triggered
against a victim from another address.

Unknown emails are counted exactly like known ones (the account key is the email's blind
index), so the throttle reveals nothing about which accounts exist.

If Redis is unavailable the throttle fails open (logins go on, limited by the argon2 cost):
refusing every login during a cache outage would turn it into a full auth outage.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.core.errors import TooManyRequests
from app.services.redis_safety import attempt


@dataclass(frozen=True)
class ThrottlePolicy:
    window_seconds: int
    per_account_ip: int
    per_account: int
    per_ip: int
    base_seconds: int
    max_seconds: int

    def lockout_seconds(self, failures: int, threshold: int) -> int:
        if threshold <= 0 or failures < threshold:
            return 0
        return min(self.max_seconds, self.base_seconds * 2 ** min(failures - threshold, 30))


class LoginThrottle:
    def __init__(self, redis, policy: ThrottlePolicy):
        self.redis = redis
        self.policy = policy

    def _scopes(self, account: str, ip: str) -> list[tuple[str, int]]:
        p = self.policy
        return [
            (f"{{lf:{account}}}:ip:{ip}", p.per_account_ip),
            (f"{{lf:{account}}}:all", p.per_account),
            (f"{{lfip:{ip}}}", p.per_ip),
        ]

    async def check(self, account: str, ip: str) -> None:
        """Raises TooManyRequests with the remaining lockout when any scope is locked."""
        if self.redis is None:
            return
        locks = [f"{key}:lock" for key, _ in self._scopes(account, ip)]
        remaining = await asyncio.gather(*(attempt(self.redis, self.redis.pttl(lock), "login-throttle read") for lock in locks))
        longest_ms = max((ms for ms in remaining if ms is not None and ms > 0), default=0)
        if longest_ms > 0:
            raise TooManyRequests(retry_after=-(-longest_ms // 1000), detail="Too many failed logins; retry later")

    async def record_failure(self, account: str, ip: str) -> int:
        """Counts a failure in every scope; returns the lockout it started (0 if none)."""
        if self.redis is None:
            return 0
        started = 0
        for key, threshold in self._scopes(account, ip):
            failures = await attempt(self.redis, self._count(key), "login-throttle write")
            if failures is None:
                return 0
            lockout = self.policy.lockout_seconds(failures, threshold)
            if lockout:
                await attempt(self.redis, self.redis.set(f"{key}:lock", "1", ex=lockout), "login-throttle lock")
                started = max(started, lockout)
        return started

    async def _count(self, key: str) -> int:
        failures = await self.redis.incr(key)
        # Sliding quiet window: counters are forgotten once failures stop for this long.
        await self.redis.expire(key, self.policy.window_seconds)
        return int(failures)

    async def record_success(self, account: str, ip: str) -> None:
        if self.redis is None:
            return
        pair, account_wide, _ = self._scopes(account, ip)
        await asyncio.gather(*(
            attempt(self.redis, self.redis.delete(key, f"{key}:lock"), "login-throttle reset")
            for key in (pair[0], account_wide[0])
        ))
