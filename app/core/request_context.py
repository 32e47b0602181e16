"""Per-request context shared by logging, problem documents and the audit trail."""

from __future__ import annotations

from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
# The caller's address as seen after trusted proxies (set by the request-context middleware).
client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)
# Who is acting (user id or api key id), set once the caller is authenticated.
actor: ContextVar[str | None] = ContextVar("actor", default=None)
