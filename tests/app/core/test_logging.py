"""JSON log lines carry the correlation id and never secret-looking fields."""

from __future__ import annotations

import io
import json
import logging

from app.core import request_context
from app.core.logging import ContextFilter, _formatter


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_formatter(json_logs=True))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(f"test.logging.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_lines_are_json_with_correlation_id_and_actor():
    logger, stream = _capture()
    tokens = (request_context.correlation_id.set("req-1"), request_context.actor.set("user:42"))
    try:
        logger.info("order placed", extra={"order_id": "o-1"})
    finally:
        request_context.actor.reset(tokens[1])
        request_context.correlation_id.reset(tokens[0])
    line = json.loads(stream.getvalue())
    assert line["message"] == "order placed" and line["level"] == "INFO"
    assert line["correlation_id"] == "req-1" and line["actor"] == "user:42" and line["order_id"] == "o-1"


def test_secret_fields_are_redacted():
    logger, stream = _capture()
    logger.info("login", extra={"password": "hunter2hunter2", "refresh_token": "rt", "authorization": "Bearer x",
                                "api_key": "sk", "email_hash": "ok"})
    line = json.loads(stream.getvalue())
    for field in ("password", "refresh_token", "authorization", "api_key"):
        assert line[field] == "[redacted]"
    assert line["email_hash"] == "ok"
    assert "hunter2" not in stream.getvalue()
