"""Structured JSON logs: one object per line, the correlation id (and, inside a traced request, the
OpenTelemetry trace and span ids) on every line, no secrets.

The correlation id and actor come from ``app.core.request_context`` through a filter, so every
logger (ours, uvicorn's, SQLAlchemy's) gets them without passing them around.
"""

from __future__ import annotations

import logging
import sys
from functools import lru_cache
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from app.core import request_context
from app.core.tracing import current_ids

# Extra fields with these names (or containing these words) are never written out.
_SECRET_WORDS = ("password", "secret", "token", "authorization", "api_key", "apikey", "cookie", "private_key")
_REDACTED = "[redacted]"
# Attributes every LogRecord has; anything else was passed through ``extra=``.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


@lru_cache(maxsize=1024)
def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


class ContextFilter(logging.Filter):
    """Adds correlation id, trace and span ids, client IP and actor; redacts secret-looking extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = request_context.correlation_id.get()
        record.client_ip = request_context.client_ip.get()
        record.actor = request_context.actor.get()
        record.trace_id, record.span_id = current_ids()
        for name in list(record.__dict__):
            if name not in _STANDARD_ATTRS and _is_secret(name):
                setattr(record, name, _REDACTED)
        return True


def _formatter(json_logs: bool) -> logging.Formatter:
    if json_logs:
        return JsonFormatter(
            "{asctime}{levelname}{name}{message}{correlation_id}{trace_id}{span_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s")


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    """Routes the root logger and uvicorn's loggers through one JSON handler on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_formatter(json_logs))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our own access log replaces uvicorn's (it knows the route template and correlation id).
    logging.getLogger("uvicorn.access").disabled = True


def log_fields(**fields: Any) -> dict[str, Any]:
    """``extra=`` helper that drops None values, for tidy log lines."""
    return {k: v for k, v in fields.items() if v is not None}
