"""The transactional outbox and the relay, on the real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, text

from app.models.outbox import OutboxEvent
from app.services import outbox, queue


async def _events(sessionmaker) -> list[OutboxEvent]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))).all())


async def _product(client, admin, stock: int) -> str:
    r = await client.post("/products", json={"name": f"p-{uuid.uuid4().hex[:6]}", "price": "2.50", "stock": stock},
                          headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_events_commit_with_their_change(api, client, sessionmaker):
    admin = await api.admin()
    customer = await api.user()
    product = await _product(client, admin, stock=3)
    order = (await client.post("/orders", json={"items": [{"product_id": product, "quantity": 2}]},
                               headers=customer.headers)).json()
    assert (await client.post(f"/orders/{order['id']}/cancel", headers=customer.headers)).status_code == 200
    # Cancelling again changes nothing, and writes no second event.
    assert (await client.post(f"/orders/{order['id']}/cancel", headers=customer.headers)).status_code == 200

    events = await _events(sessionmaker)
    registered = [e for e in events if e.event_type == outbox.USER_REGISTERED]
    assert {e.payload["user_id"] for e in registered} == {admin.id, customer.id}
    assert all("email" not in e.payload for e in registered)  # no personal data in events
    order_events = [e for e in events if e.aggregate_type == "order"]
    assert [(e.event_type, e.aggregate_version) for e in order_events] == [
        (outbox.ORDER_PLACED, 1), (outbox.ORDER_CANCELLED, 2)]
    assert order_events[0].payload["items"] == [{"product_id": product, "quantity": 2, "unit_price": "2.50"}]
    assert all(e.sent_at is None and e.handled_at is None for e in events)


async def test_no_event_without_its_change(api, client, sessionmaker):
    admin = await api.admin()
    customer = await api.user()
    before = len(await _events(sessionmaker))
    plenty, short = await _product(client, admin, stock=5), await _product(client, admin, stock=1)
    # The second line is short: the service rolls the whole transaction back, event included.
    r = await client.post("/orders", json={"items": [{"product_id": plenty, "quantity": 1},
                                                     {"product_id": short, "quantity": 2}]}, headers=customer.headers)
    assert r.status_code == 409
    # A forced rollback after the event was written.
    with pytest.raises(RuntimeError):
        async with sessionmaker() as session, session.begin():
            await outbox.record_user_registered(session, uuid.uuid4(), "customer")
            raise RuntimeError("the change failed after the event was added")
    assert len(await _events(sessionmaker)) == before


async def _seed(sessionmaker, n: int) -> list[uuid.UUID]:
    ids = []
    async with sessionmaker() as session, session.begin():
        for _ in range(n):
            ids.append(await outbox.record_user_registered(session, uuid.uuid4(), "customer"))
    return ids


async def test_relay_sends_each_event_once_in_order_even_when_relays_race(sessionmaker, redis):
    ids = await _seed(sessionmaker, 120)
    results = await asyncio.gather(*(outbox.relay_once(sessionmaker, redis, batch_size=50, max_undelivered=10_000)
                                     for _ in range(4)))
    while sum(r or 0 for r in results) < 120:
        results = [*results, await outbox.relay_once(sessionmaker, redis, batch_size=50, max_undelivered=10_000)]
    entries = await redis.xrange(queue.STREAM)
    sent = [uuid.UUID(queue.decode_fields(fields)["id"]) for _id, fields in entries]
    assert sent == ids  # each once, in commit (seq) order
    assert all(e.sent_at is not None for e in await _events(sessionmaker))
    assert await outbox.relay_once(sessionmaker, redis, batch_size=50, max_undelivered=10_000) == 0


async def test_stream_lost_by_redis_is_relayed_again(sessionmaker, redis):
    ids = await _seed(sessionmaker, 10)
    assert await outbox.relay_once(sessionmaker, redis, batch_size=100, max_undelivered=10_000) == 10
    await redis.flushall()  # Redis restarted without persistence: the stream and the group are gone
    # With a new event to send, the relay finds the group missing and relays again everything
    # that was sent and not handled yet.
    await _seed(sessionmaker, 1)
    while await outbox.relay_once(sessionmaker, redis, batch_size=100, max_undelivered=10_000):
        pass
    sent = {queue.decode_fields(f)["id"] for _i, f in await redis.xrange(queue.STREAM)}
    assert {str(i) for i in ids} <= sent


async def test_trimming_never_drops_undelivered_entries(sessionmaker, redis):
    await _seed(sessionmaker, 300)
    while await outbox.relay_once(sessionmaker, redis, batch_size=100, max_undelivered=10_000):
        pass
    # Nothing delivered yet: a new relay round trims nothing.
    await _seed(sessionmaker, 1)
    await outbox.relay_once(sessionmaker, redis, batch_size=100, max_undelivered=10_000)
    assert await redis.xlen(queue.STREAM) == 301
    # Deliver and acknowledge 250, leave 20 of them pending: only acknowledged ones may go.
    read = await redis.xreadgroup(queue.GROUP, "c1", {queue.STREAM: ">"}, count=250)
    ids = [queue.text(i) for i, _f in read[0][1]]
    await redis.xack(queue.STREAM, queue.GROUP, *ids[:230])
    await _seed(sessionmaker, 1)
    await outbox.relay_once(sessionmaker, redis, batch_size=100, max_undelivered=10_000)
    remaining = [queue.text(i) for i, _f in await redis.xrange(queue.STREAM)]
    assert set(ids[230:]) <= set(remaining)  # the pending ones stay
    assert len(remaining) >= 302 - 250 + 20  # and every undelivered one
    state = await queue.group_state(redis)
    assert state.pending == 20 and state.lag == 302 - 250


async def test_relay_pauses_when_too_much_waits(sessionmaker, redis):
    await _seed(sessionmaker, 30)
    assert await outbox.relay_once(sessionmaker, redis, batch_size=20, max_undelivered=20) == 20
    assert await outbox.relay_once(sessionmaker, redis, batch_size=20, max_undelivered=20) is None
    async with sessionmaker() as session:
        assert await outbox.unsent_count(session) == 10  # waiting in the outbox, not lost
        assert (await session.execute(text("SELECT count(*) FROM outbox_events"))).scalar() == 30
