"""The stream consumer: XREADGROUP in the group ``storefront-workers``, one PostgreSQL
transaction per entry (the idempotency mark and the handlers' effects), then XACK.

- A redelivered entry finds its event already handled (``outbox_events.handled_at``) and is
  only acknowledged: at-least-once delivery, exactly-once effects.
- A handler failure leaves the entry pending; it is claimed again (XCLAIM, which counts an
  attempt) after a backoff with full jitter, and after ``queue_max_attempts`` deliveries it
  goes to the dead-letter stream with the error and is acknowledged.
- PostgreSQL or Redis being down is not the entry's fault: the entry is kept and retried with
  backoff without counting an attempt (XCLAIM JUSTID keeps it from looking abandoned).
- Entries another consumer has held longer than ``queue_claim_idle_seconds`` (a dead worker)
  are taken over with XAUTOCLAIM; at start a consumer first finishes its own pending entries.
  Consumers of departed workers leave the group once they hold nothing and have been silent
  for ``queue_forget_consumer_idle_seconds``.
- When the group is missing (Redis lost the stream), the consumer recreates it and every event
  relayed but not handled is relayed again from the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import tracing
from app.core.config import Settings
from app.core.redis import RedisClient
from app.services import outbox, queue
from app.worker import handlers
from app.worker.backoff import Backoff, is_transient
from app.worker.metrics import EVENT_END_TO_END, EVENTS

log = logging.getLogger("storefront.worker.consumer")

BLOCK_MS = 1000


@dataclass
class Held:
    fields: dict[str, str]
    due: float
    counted: bool  # retry after a handler failure (counts an attempt) or a transient one (does not)


class Consumer:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], redis: RedisClient, settings: Settings,
                 name: str, stop: asyncio.Event, wake_deliveries: asyncio.Event):
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.settings = settings
        self.name = name
        self.stop = stop
        self.wake_deliveries = wake_deliveries
        self.joined = False
        self.held: dict[str, Held] = {}
        self._next_reclaim = 0.0
        self._backoff = Backoff("consumer", log)

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                if not self.joined:
                    await self.join()
                await self._retry_due()
                if time.monotonic() >= self._next_reclaim:
                    await self._reclaim()
                    await self._forget_departed()
                    self._next_reclaim = time.monotonic() + max(1.0, self.settings.queue_claim_idle_seconds / 4)
                response = await self.redis.xreadgroup(queue.GROUP, self.name, {queue.STREAM: ">"},
                                                       count=self.settings.queue_read_count, block=self._block_ms())
                for _stream, entries in response or []:
                    for entry_id, fields in entries:
                        if self.stop.is_set():
                            return  # the rest stays pending: claimed by another worker
                        await self.process(queue.text(entry_id), queue.decode_fields(fields))
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    self.joined = False
                    self.held.clear()
                    continue
                log.exception("consumer round failed")
                await self._backoff.failed(exc, self.stop)
                continue
            except Exception as exc:
                self.joined = self.joined and not isinstance(exc, OSError)
                if not is_transient(exc):
                    log.exception("consumer round failed")
                await self._backoff.failed(exc, self.stop)
                continue
            self._backoff.ok()

    def _block_ms(self) -> int:
        if not self.held:
            return BLOCK_MS
        until = min(h.due for h in self.held.values()) - time.monotonic()
        return max(1, min(BLOCK_MS, int(until * 1000)))

    async def join(self) -> None:
        """Creates the group if needed (and relays again what Redis lost), then finishes the
        entries this consumer name still holds (a restart under the same name)."""
        if await queue.ensure_group(self.redis):
            async with self.sessionmaker() as session, session.begin():
                requeued = await outbox.requeue_unhandled(session)
            if requeued:
                log.warning("queue group was missing: %d relayed but unhandled events will be relayed again",
                            requeued)
        self.joined = True
        own = await self.redis.xreadgroup(queue.GROUP, self.name, {queue.STREAM: "0"},
                                          count=self.settings.queue_read_count * 10)
        for _stream, entries in own or []:
            for entry_id, fields in entries:
                if fields:  # an empty map: the entry was trimmed away
                    decoded = queue.text(entry_id)
                    self.held[decoded] = Held(queue.decode_fields(fields), time.monotonic(), counted=False)

    # -- one entry -------------------------------------------------------------------------

    async def process(self, entry_id: str, fields: dict[str, str]) -> None:
        if not tracing.enabled():
            await self._process(entry_id, fields)
            return
        # Traced as a child of the span that wrote the event (the request's).
        with tracing.continued(fields.get("traceparent") or None, "event.handle", consumer=True,
                               **{"storefront.event.id": fields.get("id", "")[:36],
                                  "storefront.event.type": fields.get("type", "unknown")[:100]}):
            await self._process(entry_id, fields)

    async def _process(self, entry_id: str, fields: dict[str, str]) -> None:
        self.held.pop(entry_id, None)
        event_type = fields.get("type", "unknown")[:100]
        try:
            event = handlers.parse(fields)
            async with self.sessionmaker() as session, session.begin():
                fresh = await outbox.claim_for_handling(session, event.id)
                more = await handlers.handle(session, event) if fresh else False
        except Exception as exc:
            if is_transient(exc):
                self.held[entry_id] = Held(fields, time.monotonic() + self._transient_delay(), counted=False)
                raise
            await self._failed(entry_id, fields, event_type, exc)
            return
        await self.redis.xack(queue.STREAM, queue.GROUP, entry_id)
        EVENTS.labels(event_type, "processed" if fresh else "duplicate").inc()
        if fresh:
            EVENT_END_TO_END.observe(max(0.0, time.time() - event.created_at.timestamp()))
        if more:
            self.wake_deliveries.set()

    def _transient_delay(self) -> float:
        return random.uniform(0.2, 2.0)  # noqa: S311 - jitter

    async def _attempts(self, entry_id: str) -> int:
        pending = await self.redis.xpending_range(queue.STREAM, queue.GROUP, min=entry_id, max=entry_id, count=1)
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _failed(self, entry_id: str, fields: dict[str, str], event_type: str, exc: Exception) -> None:
        attempts = await self._attempts(entry_id)
        if attempts >= self.settings.queue_max_attempts:
            await self.dead_letter(entry_id, fields, event_type, f"{type(exc).__name__}: {exc}", attempts)
            return
        delay = random.uniform(0, self.settings.queue_retry_base_seconds * 2 ** (attempts - 1))  # noqa: S311
        log.warning("event %s (%s) failed on attempt %d, retrying in %.1fs: %s", fields.get("id"), event_type,
                    attempts, delay, type(exc).__name__)
        EVENTS.labels(event_type, "retry").inc()
        self.held[entry_id] = Held(fields, time.monotonic() + delay, counted=True)

    async def dead_letter(self, entry_id: str, fields: dict[str, str], event_type: str, error: str,
                          attempts: int) -> None:
        log.error("event %s (%s) dead-lettered after %d attempts: %s", fields.get("id"), event_type, attempts,
                  error[:200])
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(queue.DEAD_LETTERS, {**fields, "error": error[:500], "attempts": str(attempts),
                                       "stream_id": entry_id, "consumer": self.name},
                  maxlen=self.settings.queue_dead_letters_max, approximate=False)
        pipe.xack(queue.STREAM, queue.GROUP, entry_id)
        await pipe.execute()
        EVENTS.labels(event_type, "dead_lettered").inc()

    # -- retries and take-overs -------------------------------------------------------------

    async def _retry_due(self) -> None:
        now = time.monotonic()
        for entry_id, held in sorted(self.held.items(), key=lambda item: item[1].due):
            if held.due > now or self.stop.is_set():
                continue
            claimed = await self.redis.xclaim(queue.STREAM, queue.GROUP, self.name, 0, [entry_id],
                                              justid=not held.counted)
            if not claimed:  # acknowledged or trimmed meanwhile, or taken over by another consumer
                self.held.pop(entry_id, None)
                continue
            await self.process(entry_id, held.fields)

    async def _forget_departed(self) -> None:
        removed = await queue.forget_departed_consumers(self.redis, self.name,
                                                        self.settings.queue_forget_consumer_idle_seconds)
        if removed:
            log.info("removed %d departed consumer(s) from the group: %s", len(removed), ", ".join(removed))

    async def _reclaim(self) -> None:
        """XAUTOCLAIM what a dead consumer held; entries past the attempt limit go to the dead letters."""
        idle_ms = int(self.settings.queue_claim_idle_seconds * 1000)
        start = "0-0"
        while not self.stop.is_set():
            result = await self.redis.xautoclaim(queue.STREAM, queue.GROUP, self.name, idle_ms, start_id=start,
                                                 count=self.settings.queue_read_count)
            next_start, entries = queue.text(result[0]), result[1]
            for entry_id, fields in entries:
                decoded_id = queue.text(entry_id)
                if decoded_id in self.held or not fields:
                    continue
                decoded = queue.decode_fields(fields)
                log.info("took over event %s from an unresponsive consumer", decoded.get("id"))
                attempts = await self._attempts(decoded_id)
                if attempts > self.settings.queue_max_attempts:
                    await self.dead_letter(decoded_id, decoded, decoded.get("type", "unknown")[:100],
                                           "abandoned by its consumers too often", attempts)
                    continue
                await self.process(decoded_id, decoded)
            if next_start == "0-0":
                return
            start = next_start
