"""The raw argon2id verification rate at the app's configured parameters: the login ceiling.

Verification, not hashing, because that is what a login pays (same cost for the same
parameters). ``threads`` workers verify in parallel; argon2-cffi releases the GIL, so with one
thread per core this is the most the machine can do.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher, Type


@dataclass(frozen=True)
class Argon2Params:
    memory_kib: int
    time_cost: int
    parallelism: int

    @classmethod
    def configured(cls) -> Argon2Params:
        """The values the app would use with the current environment."""
        from app.core.config import Settings

        s = Settings()
        return cls(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism)

    def label(self) -> str:
        return f"argon2id m={self.memory_kib // 1024} MiB, t={self.time_cost}, p={self.parallelism}"


def verify_rate(params: Argon2Params, seconds: float, threads: int | None = None) -> float:
    """Verifications per second over ``seconds`` with ``threads`` parallel workers."""
    return verify_cost(params, seconds, threads)[0]


def verify_cost(params: Argon2Params, seconds: float, threads: int | None = None,
                cpus: set[int] | None = None) -> tuple[float, float]:
    """(verifications per second, CPU milliseconds per verification), the workers pinned to
    ``cpus`` when given. The CPU figure does not depend on how busy the machine is; the rate does."""
    threads = threads or os.cpu_count() or 1
    hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                            parallelism=params.parallelism, hash_len=32, salt_len=16, type=Type.ID)
    stored = hasher.hash("correct horse battery staple 42")
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def work(slot: int) -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)  # this thread only
        while time.monotonic() < deadline:
            hasher.verify(stored, "correct horse battery staple 42")
            counts[slot] += 1

    t0, cpu0 = time.monotonic(), time.process_time()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done = sum(counts)
    return done / (time.monotonic() - t0), (time.process_time() - cpu0) * 1000 / max(done, 1)


if __name__ == "__main__":
    p = Argon2Params.configured()
    print(f"{p.label()}: {verify_rate(p, 3):.1f} verifications/s")
