"""The migration chain builds the whole schema on an empty database, tears it down, builds it
again, and agrees with the models exactly."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.migrations import downgrade, head_revision, upgrade
from app.models import Base

TABLES = {"users", "refresh_token_families", "refresh_tokens", "mfa_recovery_codes", "api_keys", "audit_log",
          "products", "orders", "order_items", "outbox_events", "webhook_endpoints", "webhook_deliveries"}


async def _inspect(url: str, fn):
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _tables(sync_conn) -> set[str]:
    return set(inspect(sync_conn).get_table_names()) - {"alembic_version"}


def _revision(sync_conn) -> str | None:
    return sync_conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def _diff(sync_conn) -> list:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True, "compare_server_default": False})
    return compare_metadata(context, Base.metadata)


async def test_upgrade_downgrade_upgrade(database_factory):
    url = database_factory()
    await asyncio.to_thread(upgrade, url)
    assert await _inspect(url, _tables) == TABLES
    assert await _inspect(url, _revision) == head_revision() == "0004_outbox_webhooks"

    await asyncio.to_thread(downgrade, url, "base")
    assert await _inspect(url, _tables) == set()

    await asyncio.to_thread(upgrade, url)
    assert await _inspect(url, _tables) == TABLES


async def test_models_and_migrations_agree(database_factory):
    url = database_factory()
    await asyncio.to_thread(upgrade, url)
    assert await _inspect(url, _diff) == []


async def test_stock_check_constraint_holds_in_the_database(database_factory):
    url = database_factory()
    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO products (id, name, price, stock) VALUES (gen_random_uuid(), 'x', 1, 0)"))
        async with engine.begin() as conn:
            try:
                await conn.execute(text("UPDATE products SET stock = stock - 1"))
            except Exception as exc:  # noqa: BLE001 - the CHECK constraint refuses it
                assert "ck_products_stock_non_negative" in str(exc)
            else:
                raise AssertionError("stock went negative")
    finally:
        await engine.dispose()
