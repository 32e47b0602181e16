"""The queue's health as the operator reports it: lag, pending and dead letters of the event
stream the workers consume (names fixed with the app: ``app/worker``).

Read straight from Redis with one short-timeout connection, so ``kubectl get sf -o yaml`` and
the operator's metrics say how far behind the workers are without scraping any pod.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.exceptions import MovedError
from redis.retry import Retry

STREAM = "{storefront-events}:stream"
DEAD_LETTERS = "{storefront-events}:dead"
GROUP = "storefront-workers"


@dataclass(frozen=True)
class QueueStats:
    lag: int | None  # entries not yet delivered to the group; None when Redis cannot tell
    pending: int  # delivered to a worker, not yet acknowledged
    dead_letters: int
    consumers: int
    group_exists: bool

    def as_status(self) -> dict[str, int | bool | None]:
        return {"lag": self.lag, "pending": self.pending, "deadLetters": self.dead_letters,
                "consumers": self.consumers, "consumerGroup": self.group_exists}


def parse_groups(groups: list[dict]) -> tuple[int | None, int, int, bool]:
    """(lag, pending, consumers, found) of the workers' group from XINFO GROUPS."""
    for group in groups:
        if group.get("name") == GROUP:
            lag = group.get("lag")
            return (None if lag is None else int(lag)), int(group.get("pending") or 0), int(group.get("consumers") or 0), True
    return None, 0, 0, False


def _client(address: str, password: str | None, timeout: float) -> redis.Redis:
    host, _, port = address.rpartition(":")
    return redis.Redis(host=host.strip("[]"), port=int(port), password=password, socket_timeout=timeout,
                       socket_connect_timeout=timeout, decode_responses=True, retry=Retry(NoBackoff(), 0))


def _read(client: redis.Redis) -> QueueStats:
    try:
        groups = client.xinfo_groups(STREAM)
    except redis.ResponseError as exc:
        if "no such key" not in str(exc).lower():
            raise
        groups = []  # no event was ever relayed: nothing is behind
    lag, pending, consumers, found = parse_groups(groups)
    if not found:
        # Until a worker creates the group, every entry in the stream is undelivered.
        lag = int(client.xlen(STREAM))
    return QueueStats(lag, pending, int(client.xlen(DEAD_LETTERS)), consumers, found)


def read_queue_stats(addresses: list[str], password: str | None, timeout: float) -> QueueStats:
    """Queue figures from the first reachable address; in a cluster a MOVED reply points at the
    node that owns the stream's slot (both keys share one hash tag, so one node has both)."""
    if not addresses:
        raise ConnectionError("no Redis address to read the queue from")
    errors: list[str] = []
    for address in addresses:
        target = address
        for _ in range(2):  # the address asked, then at most the one a MOVED reply names
            client = _client(target, password, timeout)
            try:
                return _read(client)
            except MovedError as exc:
                target = f"{exc.host}:{exc.port}"
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                errors.append(f"{target}: {exc}")
                break
            finally:
                client.close()
    raise ConnectionError("no Redis node answered: " + "; ".join(errors))
