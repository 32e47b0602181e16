"""Keyset pagination, newest first, with opaque cursors: the (created_at, id) of the last row
seen, base64url-encoded.

Clients must treat them as opaque; a cursor that does not decode is a 422, not a 500.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Unprocessable
from app.schemas.common import Page

Out = TypeVar("Out", bound=BaseModel)


def encode_cursor(created_at: dt.datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        when = dt.datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError("naive timestamp")
        return when, uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise Unprocessable("The cursor is not valid; use next_cursor from a previous page",
                            errors=[{"field": "query.cursor", "message": "invalid cursor", "type": "value_error"}]) from exc


def keyset_filter(stmt: Select[Any], model: Any, cursor: str | None) -> Select[Any]:
    """``stmt`` restricted to the rows after ``cursor`` (newest first by created_at, id)."""
    if not cursor:
        return stmt
    created_at, last_id = decode_cursor(cursor)
    return stmt.where(tuple_(model.created_at, model.id) < tuple_(created_at, last_id))


async def keyset_page(session: AsyncSession, stmt: Select[Any], model: Any, out: type[Out], *,
                      limit: int, cursor: str | None) -> Page[Out]:
    """One page of ``stmt``'s rows, newest first, after ``cursor``; ``model`` has created_at and id."""
    stmt = keyset_filter(stmt, model, cursor).order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return Page[out](items=[out.model_validate(row) for row in rows], next_cursor=next_cursor, limit=limit)
