"""ASGI factories that uvicorn loads with ``--factory``, so every variant runs on the same setup.

- ``bare_app``: one FastAPI route with no middleware, serving the JSON body in
  ``BENCH_BARE_PAYLOAD_FILE`` (the real ``GET /products`` page captured from the app), so the
  baseline pays the same serialisation and bytes on the wire and only the platform's own work
  (middleware, auth, database/cache) differs.
- ``storefront_app``: ``app.main.create_app(Settings())`` from the environment, minus the
  middleware named in ``BENCH_DROP_MIDDLEWARE`` (comma-separated class names). Removing one
  layer at a time and measuring the gain is how the per-middleware cost is attributed. With
  ``BENCH_NO_OUTBOX=1`` orders write no outbox event (the baseline of ``bench queue``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def bare_app() -> Any:
    from fastapi import FastAPI

    payload_file = os.environ.get("BENCH_BARE_PAYLOAD_FILE")
    payload = json.loads(Path(payload_file).read_text()) if payload_file else {"items": [], "next_cursor": None}
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/products")
    async def products() -> Any:
        return payload

    return app


def middleware_name(entry: Any) -> str:
    """A Starlette ``Middleware`` entry's class name, or its dispatch function's for ``@app.middleware``."""
    cls = getattr(entry, "cls", entry)
    dispatch = getattr(entry, "kwargs", {}).get("dispatch")
    if dispatch is not None:
        return getattr(dispatch, "__name__", cls.__name__)
    return cls.__name__


def drop_middleware(app: Any, names: set[str]) -> list[str]:
    """Removes the named layers before the stack is built (Starlette builds it on first call)."""
    if not names:
        return []
    unknown = names - {middleware_name(m) for m in app.user_middleware}
    if unknown:
        raise ValueError(f"no such middleware: {sorted(unknown)}; the app has {middleware_names(app)}")
    app.user_middleware[:] = [m for m in app.user_middleware if middleware_name(m) not in names]
    app.middleware_stack = None
    return sorted(names)


def middleware_names(app: Any) -> list[str]:
    """Outermost first, as requests pass through them."""
    return [middleware_name(m) for m in app.user_middleware]


def _without_outbox() -> None:
    """The baseline of ``bench queue``: orders placed with no outbox event (never in production)."""
    from app.services import outbox

    async def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    outbox.record_order_event = nothing  # type: ignore[assignment]


def storefront_app() -> Any:
    from app.core.config import Settings
    from app.main import create_app

    if os.environ.get("BENCH_NO_OUTBOX") == "1":
        _without_outbox()
    app = create_app(Settings())
    drop = {n.strip() for n in os.environ.get("BENCH_DROP_MIDDLEWARE", "").split(",") if n.strip()}
    drop_middleware(app, drop)
    return app


if __name__ == "__main__":
    print("\n".join(middleware_names(storefront_app())))
