"""The stream consumer in-process: idempotent handling, dead letters after N attempts, and
taking over what a dead consumer held."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from prometheus_client import REGISTRY
from queue_support import async_wait_for
from sqlalchemy import func, select, text

from app.models.webhook import WebhookDelivery
from app.services import outbox, queue
from app.worker.consumer import Consumer


async def _relay_all(sessionmaker, redis) -> None:
    while await outbox.relay_once(sessionmaker, redis, batch_size=100, max_undelivered=10_000):
        pass


@contextlib.asynccontextmanager
async def running(consumer: Consumer):
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        consumer.stop.set()
        await asyncio.wait_for(task, 10)


def _consumer(sessionmaker, redis, settings, name="c1", **overrides) -> Consumer:
    return Consumer(sessionmaker, redis, settings.model_copy(update=overrides), name, asyncio.Event(), asyncio.Event())


async def _endpoint(sessionmaker, events=("user.registered",)) -> uuid.UUID:
    endpoint_id = uuid.uuid4()
    async with sessionmaker() as session, session.begin():
        await session.execute(text(
            "INSERT INTO webhook_endpoints (id, url, events, secret_ciphertext) "
            "VALUES (:id, 'http://127.0.0.1:9/x', :events, '\\x00')"), {"id": endpoint_id, "events": list(events)})
    return endpoint_id


async def _deliveries(sessionmaker) -> int:
    async with sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(WebhookDelivery))


def _metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_redelivered_event_has_no_second_effect(sessionmaker, redis, settings):
    await _endpoint(sessionmaker)
    async with sessionmaker() as session, session.begin():
        await outbox.record_user_registered(session, uuid.uuid4(), "customer")
    await _relay_all(sessionmaker, redis)
    [(entry_id, fields)] = (await redis.xrange(queue.STREAM))
    consumer = _consumer(sessionmaker, redis, settings)
    await consumer.join()
    await redis.xreadgroup(queue.GROUP, "c1", {queue.STREAM: ">"})
    duplicates = _metric("storefront_worker_events_total", type="user.registered", outcome="duplicate")
    # The same entry handled twice (a redelivery, or two consumers racing): one delivery row.
    await asyncio.gather(consumer.process(queue.text(entry_id), queue.decode_fields(fields)),
                         consumer.process(queue.text(entry_id), queue.decode_fields(fields)))
    assert await _deliveries(sessionmaker) == 1
    assert _metric("storefront_worker_events_total", type="user.registered", outcome="duplicate") == duplicates + 1
    assert (await queue.group_state(redis)).pending == 0


async def test_poison_event_is_dead_lettered_after_n_attempts(sessionmaker, redis, settings):
    poison = uuid.uuid4()
    async with sessionmaker() as session, session.begin():
        # An order.placed without its order: no handler can make sense of it.
        await outbox.record(session, aggregate_type="order", aggregate_id=poison, event_type="order.placed",
                            payload={"unexpected": True})
        await outbox.record_user_registered(session, uuid.uuid4(), "customer")
    await _relay_all(sessionmaker, redis)
    dead_before = _metric("storefront_worker_events_total", type="order.placed", outcome="dead_lettered")
    async with running(_consumer(sessionmaker, redis, settings, queue_max_attempts=3)):
        await async_wait_for(lambda: redis.xlen(queue.DEAD_LETTERS), 20, "nothing reached the dead letters")
    [(_id, fields)] = await redis.xrange(queue.DEAD_LETTERS)
    dead = queue.decode_fields(fields)
    assert dead["aggregate_id"] == str(poison) and dead["attempts"] == "3" and "PoisonEvent" in dead["error"]
    assert _metric("storefront_worker_events_total", type="order.placed", outcome="dead_lettered") == dead_before + 1
    assert _metric("storefront_worker_events_total", type="order.placed", outcome="retry") >= 2
    state = await queue.group_state(redis)
    assert state.pending == 0 and state.lag == 0  # acknowledged: it does not block the stream
    async with sessionmaker() as session:  # the good event next to it was handled
        assert await session.scalar(text("SELECT count(*) FROM outbox_events WHERE handled_at IS NOT NULL")) == 1


async def _events_in_the_stream(sessionmaker, redis, n: int) -> None:
    """n events for a webhook endpoint, relayed to the stream, its group created."""
    await _endpoint(sessionmaker)
    async with sessionmaker() as session, session.begin():
        for _ in range(n):
            await outbox.record_user_registered(session, uuid.uuid4(), "customer")
    await _relay_all(sessionmaker, redis)
    await queue.ensure_group(redis)


async def test_entries_of_a_dead_consumer_are_taken_over(sessionmaker, redis, settings):
    await _events_in_the_stream(sessionmaker, redis, 3)
    # "dead" reads everything and never acknowledges (its process was killed).
    await redis.xreadgroup(queue.GROUP, "dead", {queue.STREAM: ">"})
    assert (await queue.group_state(redis)).pending == 3
    async with running(_consumer(sessionmaker, redis, settings, name="alive", queue_claim_idle_seconds=0.3)):
        await async_wait_for(lambda: _deliveries_equal(sessionmaker, 3), 15, "the held entries were not taken over")
        await async_wait_for(lambda: _pending_is(redis, 0), 5, "still pending")


async def _deliveries_equal(sessionmaker, n: int) -> bool:
    return await _deliveries(sessionmaker) == n


async def _pending_is(redis, n: int) -> bool:
    return (await queue.group_state(redis)).pending == n


async def test_missing_group_relays_unhandled_events_again(sessionmaker, redis, settings):
    await _endpoint(sessionmaker)
    async with sessionmaker() as session, session.begin():
        await outbox.record_user_registered(session, uuid.uuid4(), "customer")
    await _relay_all(sessionmaker, redis)
    await redis.flushall()  # relayed, never handled, and now gone from Redis
    async with running(_consumer(sessionmaker, redis, settings)):
        await async_wait_for(lambda: _relayed_and_handled(sessionmaker, redis), 15, "the lost event never came back")
    assert await _deliveries(sessionmaker) == 1


async def _relayed_and_handled(sessionmaker, redis) -> bool:
    await outbox.relay_once(sessionmaker, redis, batch_size=100, max_undelivered=10_000)
    async with sessionmaker() as session:
        return await session.scalar(text("SELECT bool_and(handled_at IS NOT NULL) FROM outbox_events"))


async def _consumers(redis) -> dict[str, dict]:
    return {queue.text(c["name"]): c for c in await redis.xinfo_consumers(queue.STREAM, queue.GROUP)}


async def _all_idle(redis, ms: int) -> bool:
    return all(int(c["idle"]) >= ms for c in (await _consumers(redis)).values())


async def test_departed_consumers_leave_the_group_once_they_hold_nothing(sessionmaker, redis, settings):
    await _events_in_the_stream(sessionmaker, redis, 2)
    # "holding" died with an entry unacknowledged; "departed" finished its work and went away.
    await redis.xreadgroup(queue.GROUP, "holding", {queue.STREAM: ">"}, count=1)
    [[_stream, [(entry_id, _fields)]]] = await redis.xreadgroup(queue.GROUP, "departed", {queue.STREAM: ">"}, count=1)
    await redis.xack(queue.STREAM, queue.GROUP, entry_id)
    assert await queue.forget_departed_consumers(redis, "alive", 3600) == [], "nobody is an hour idle"

    await async_wait_for(lambda: _all_idle(redis, 300), 5, "consumers never became idle")
    # Entries held for less than the claim timeout stay with "holding" while "alive" runs.
    async with running(_consumer(sessionmaker, redis, settings, name="alive", queue_claim_idle_seconds=60,
                                 queue_forget_consumer_idle_seconds=0.3)):
        await async_wait_for(lambda: _lacks(redis, "departed"), 10, "the departed consumer is still in the group")
        consumers = await _consumers(redis)
        assert set(consumers) == {"holding", "alive"}
        assert int(consumers["holding"]["pending"]) == 1, "a consumer holding an entry is never removed"


async def _lacks(redis, name: str) -> bool:
    return name not in await _consumers(redis)


async def test_the_dead_letter_stream_keeps_its_newest_entries(sessionmaker, redis, settings):
    consumer = _consumer(sessionmaker, redis, settings, queue_dead_letters_max=3)
    for n in range(5):
        await consumer.dead_letter(f"{n + 1}-0", {"id": str(n), "type": "order.placed"}, "order.placed", "boom", 5)
    assert [queue.decode_fields(fields)["id"] for _id, fields in await redis.xrange(queue.DEAD_LETTERS)] == ["2", "3", "4"]


def test_event_outcomes_are_exported_from_zero():
    from app.services.outbox import EVENT_TYPES
    for event_type in EVENT_TYPES:
        assert REGISTRY.get_sample_value("storefront_worker_events_total",
                                         {"type": event_type, "outcome": "dead_lettered"}) is not None
