"""Domain exceptions. They carry an HTTP status and a problem type; ``app.api.problems``
turns them (and every framework error) into RFC 9457 problem+json in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 400
    title: str = "Bad request"
    type_slug: str = "bad-request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra


class Unauthorized(DomainError):
    status, title, type_slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any):
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(DomainError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFound(DomainError):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(DomainError):
    status, title, type_slug = 409, "Conflict", "conflict"


class InsufficientStock(Conflict):
    title, type_slug = "Insufficient stock", "insufficient-stock"


class Unprocessable(DomainError):
    status, title, type_slug = 422, "Unprocessable content", "unprocessable"


class TooManyRequests(DomainError):
    status, title, type_slug = 429, "Too many requests", "rate-limited"

    def __init__(self, retry_after: int, detail: str | None = None):
        super().__init__(detail or "Rate limit exceeded", headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status, title, type_slug = 503, "Service unavailable", "service-unavailable"
