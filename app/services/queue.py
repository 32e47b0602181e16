"""The Redis Streams side of the queue: keys, the consumer group, and what is safe to trim.

Every key carries the hash tag ``{storefront-events}``, so the stream, its dead letters and the
group live in one slot and work the same on a Redis Cluster. Entries are flat string maps:
``id`` (the outbox event id), ``type``, ``aggregate_type``, ``aggregate_id``, ``version``,
``created_at`` (Unix time of the outbox insert), ``payload`` (JSON) and ``traceparent``.

The stream is bounded without ever dropping an entry the group has not finished with: each
relay round trims with ``MINID ~ <safe id>``, where the safe id is the oldest entry still
pending (delivered, not acknowledged) or, when none is, the group's last delivered id.
Everything older has been delivered *and* acknowledged. Entries not yet delivered are never
trimmed; instead the relay stops adding when more than ``queue_max_undelivered`` wait (the
events then wait in the outbox, in PostgreSQL).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from app.core.redis import RedisClient

STREAM = "{storefront-events}:stream"
DEAD_LETTERS = "{storefront-events}:dead"
GROUP = "storefront-workers"


@dataclass(frozen=True)
class GroupState:
    lag: int  # entries not yet delivered to the group
    pending: int  # delivered, not acknowledged
    safe_trim_id: str | None  # entries older than this are delivered and acknowledged


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _field(info: dict, name: str) -> Any:
    return info.get(name, info.get(name.encode()))


async def ensure_group(redis: RedisClient) -> bool:
    """Creates the stream and the group when missing; True when it had to (the stream was new,
    or Redis lost it: whatever was relayed before may be gone and must be relayed again)."""
    try:
        await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    return True


async def group_state(redis: RedisClient) -> GroupState | None:
    """None when the stream or the group does not exist (yet, or after Redis lost them)."""
    try:
        groups = await redis.xinfo_groups(STREAM)
    except ResponseError:
        return None
    info = next((g for g in groups if text(_field(g, "name")) == GROUP), None)
    if info is None:
        return None
    pending = int(_field(info, "pending") or 0)
    lag = _field(info, "lag")
    if lag is None:  # Redis cannot tell after some deletions: count what follows the last delivered id
        last = text(_field(info, "last-delivered-id"))
        lag = len(await redis.xrange(STREAM, min=f"({last}", max="+"))
    last_delivered = text(_field(info, "last-delivered-id"))
    safe = last_delivered if last_delivered != "0-0" else None
    if pending:
        summary = await redis.xpending(STREAM, GROUP)
        oldest = summary.get("min")
        if oldest is not None:
            safe = text(oldest)
    return GroupState(lag=int(lag), pending=pending, safe_trim_id=safe)


# Check and removal in one script: a consumer that read an entry between the two would lose
# it from the pending list, and so from every retry and take-over.
_FORGET_DEPARTED = """
local removed = {}
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['name'] ~= ARGV[2] and info['pending'] == 0 and info['idle'] >= tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    table.insert(removed, info['name'])
  end
end
return removed
"""


async def forget_departed_consumers(redis: RedisClient, keep: str, idle_seconds: float) -> list[str]:
    """Removes from the group the consumers that hold nothing and have been silent ``idle_seconds``:
    every worker pod joins under its own name, so without this the group lists every pod that
    ever ran. A live consumer reads every second and is never that idle; one with entries
    pending stays until XAUTOCLAIM has taken them over."""
    removed = await redis.eval(_FORGET_DEPARTED, 1, STREAM, GROUP, keep, int(idle_seconds * 1000))
    return [text(name) for name in removed or []]


def entry_fields(event: Any) -> dict[str, str]:
    """The stream entry of an outbox row."""
    return {
        "id": str(event.id),
        "type": event.event_type,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": str(event.aggregate_id),
        "version": str(event.aggregate_version),
        "created_at": f"{event.created_at.timestamp():.6f}",
        "payload": json.dumps(event.payload, separators=(",", ":")),
        "traceparent": event.traceparent or "",
    }


def decode_fields(fields: dict) -> dict[str, str]:
    return {text(k): text(v) for k, v in fields.items()}
