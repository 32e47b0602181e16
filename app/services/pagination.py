"""Opaque keyset cursors: the (created_at, id) of the last row seen, base64url-encoded.

Clients must treat them as opaque; a cursor that does not decode is a 422, not a 500.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

from app.core.errors import Unprocessable


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
