"""Catalog: create, read, update, delete, keyset pagination and search by name.

Reads are cached as ready-to-send JSON (see ``app.services.cache``); every write invalidates.
Reads go to the read replica when one is configured (``app.core.db.read_session``), so a read
may trail a write by the replica's lag as well as by the cache's TTL.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import read_session
from app.core.errors import NotFound
from app.models.product import Product
from app.schemas.common import Page
from app.schemas.products import ProductCreate, ProductOut, ProductUpdate
from app.services import cache
from app.services.pagination import keyset_page

ProductPage = Page[ProductOut]


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_products(session: AsyncSession, *, q: str | None, limit: int, cursor: str | None) -> ProductPage:
    stmt = select(Product)
    if q:
        stmt = stmt.where(Product.name.ilike(_like_pattern(q), escape="\\"))
    return await keyset_page(session, stmt, Product, ProductOut, limit=limit, cursor=cursor)


def page_cache_field(q: str | None, limit: int, cursor: str | None) -> str:
    return hashlib.sha256(f"{q or ''}\x00{limit}\x00{cursor or ''}".encode()).hexdigest()[:32]


async def list_products_json(*, q: str | None, limit: int, cursor: str | None, ttl: int) -> bytes:
    """The page as JSON; a cache hit opens no database session at all."""
    field = page_cache_field(q, limit, cursor)
    if ttl > 0 and (cached := await cache.get_page(field)) is not None:
        return cached
    async with read_session() as session:
        page = await list_products(session, q=q, limit=limit, cursor=cursor)
    body = page.model_dump_json().encode()
    if ttl > 0:
        await cache.put_page(field, body, ttl)
    return body


async def get_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound("Product not found")
    return product


async def get_product_json(product_id: uuid.UUID, *, ttl: int) -> bytes:
    if ttl > 0 and (cached := await cache.get_product(product_id)) is not None:
        return cached
    async with read_session() as session:
        product = ProductOut.model_validate(await get_product(session, product_id))
    body = product.model_dump_json().encode()
    if ttl > 0:
        await cache.put_product(product_id, body, ttl)
    return body


async def create_product(session: AsyncSession, data: ProductCreate) -> Product:
    product = Product(**data.model_dump())
    session.add(product)
    await session.commit()
    await session.refresh(product)
    await cache.invalidate_products()
    return product


async def update_product(session: AsyncSession, product_id: uuid.UUID, data: ProductUpdate) -> Product:
    product = await session.get(Product, product_id, with_for_update=True)
    if product is None:
        raise NotFound("Product not found")
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(product, field, value)
    await session.commit()
    await session.refresh(product)
    await cache.invalidate_products([product_id])
    return product


async def delete_product(session: AsyncSession, product_id: uuid.UUID) -> None:
    """Order items keep their name and price snapshot; their product_id becomes null."""
    result = await session.execute(delete(Product).where(Product.id == product_id).returning(Product.id))
    if result.scalar_one_or_none() is None:
        raise NotFound("Product not found")
    await session.commit()
    await cache.invalidate_products([product_id])
