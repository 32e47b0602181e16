"""RFC 9457 problem details: the one place where every error becomes ``application/problem+json``.

Domain errors, framework errors (404, 405, 422, …), database and Redis outages are mapped by the
exception handlers registered in :func:`install_problem_handlers`; the middleware uses
:func:`problem_response` for the errors it produces itself (413, 429, 500, 504).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from app.core import request_context
from app.core.db_errors import is_bad_value, is_database_unavailable
from app.core.errors import DomainError
from app.core.metrics import UNHANDLED_EXCEPTIONS

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://storefront.dev/problems/"


class FieldError(BaseModel):
    field: str = Field(description="Dotted location of the offending field, e.g. `body.items.0.quantity`.")
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=[PROBLEM_TYPE_BASE + "not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["Order not found"])
    correlation_id: str | None = Field(default=None, description="Equals the response's X-Request-ID.")
    errors: list[FieldError] | None = Field(default=None, description="Validation errors (422 only).")


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "error"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    type_slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (type_slug or _slug(status)),
        "title": title or _title(status),
        "status": status,
        "detail": detail or title or _title(status),
        "correlation_id": request_context.correlation_id.get(),
    }
    body.update({k: v for k, v in extra.items() if k not in body})
    return ProblemResponse(body, status_code=status, headers=headers)


def internal_error_response() -> ProblemResponse:
    """A 500 that tells the client nothing about internals; the log has the traceback."""
    return problem_response(500, "An unexpected error occurred; quote the correlation id when reporting it.",
                            type_slug="internal-error")


def database_unavailable_response() -> ProblemResponse:
    return problem_response(503, "The database is unavailable; retry shortly.", type_slug="database-unavailable",
                            headers={"Retry-After": "5"})


# -- exception handlers ------------------------------------------------------------------------

async def _domain_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, DomainError)
    extra = dict(exc.extra)
    # A raise site may refine the problem type/title without a subclass of its own.
    type_slug = extra.pop("type_slug", exc.type_slug)
    title = extra.pop("title", exc.title)
    return problem_response(exc.status, exc.detail, title=title, type_slug=type_slug,
                            headers=exc.headers or None, **extra)


async def _http_exception(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}"
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(exc.status_code, detail, headers=dict(exc.headers) if exc.headers else None)


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    # Only location, message and type: the rejected input may be a password.
    return [
        {"field": ".".join(str(part) for part in err.get("loc", ())), "message": str(err.get("msg", "")),
         "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    fields = ", ".join(e["field"] for e in errors)
    return problem_response(422, f"Invalid request: {fields}", title="Validation failed",
                            type_slug="validation-failed", errors=errors)


async def _database_error(request: Request, exc: Exception) -> ProblemResponse:
    if is_bad_value(exc):
        # SQLSTATE class 22: a value PostgreSQL cannot store or compare (a NUL character,
        # a number out of range). The client sent it, so it is theirs to fix.
        return problem_response(422, "A value in the request cannot be stored (for example a NUL character "
                                "or a number out of range)", title="Validation failed", type_slug="invalid-value")
    if is_database_unavailable(exc):
        log.warning("database unavailable", extra={"error": type(exc).__name__})
        return database_unavailable_response()
    log.error("database error", exc_info=exc)
    # A 500 like any exception nothing expected: counted by its type for the dashboards and runbooks.
    UNHANDLED_EXCEPTIONS.labels(type(exc).__name__).inc()
    return internal_error_response()


async def _redis_error(request: Request, exc: Exception) -> ProblemResponse:
    log.warning("redis unavailable", extra={"error": type(exc).__name__})
    return problem_response(503, "The session store is unavailable; retry shortly.", type_slug="redis-unavailable",
                            headers={"Retry-After": "5"})


async def _timeout_error(request: Request, exc: Exception) -> ProblemResponse:
    # asyncpg/SQLAlchemy connect and pool timeouts surface as TimeoutError.
    log.warning("dependency timed out", extra={"error": type(exc).__name__})
    return problem_response(503, "A backing service did not answer in time; retry shortly.",
                            type_slug="service-unavailable", headers={"Retry-After": "5"})


def install_problem_handlers(app: FastAPI) -> None:
    import asyncpg

    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(asyncpg.PostgresError, _database_error)
    app.add_exception_handler(asyncpg.InterfaceError, _database_error)
    app.add_exception_handler(ConnectionError, _database_error)
    app.add_exception_handler(TimeoutError, _timeout_error)
    app.add_exception_handler(RedisError, _redis_error)


# -- OpenAPI -----------------------------------------------------------------------------------

_DESCRIPTIONS = {
    400: "Malformed request", 401: "Missing or invalid credentials", 403: "Authenticated but not allowed",
    404: "Not found (also for objects owned by someone else)", 405: "Method not allowed", 409: "Conflict",
    413: "Request body larger than the limit", 422: "Validation failed; `errors` lists the fields",
    429: "Rate limit exceeded; see Retry-After", 500: "Unexpected error (no internals disclosed)",
    503: "A backing service (PostgreSQL, Redis) is unavailable", 504: "The request took longer than the timeout",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status documented as a problem+json document."""
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, _title(status)),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


# Every operation can get these, whatever it does.
COMMON_ERROR_STATUSES = (429, 500, 503, 504)
BODY_ERROR_STATUSES = (413, 422)


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Rewrites the generated spec so every error response is problem+json and every operation
    lists the errors the middleware can produce."""
    ref = {"$ref": "#/components/schemas/Problem"}
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
    for key, schema in Problem.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items():
        schemas.setdefault(key, schema)
    schemas["Problem"].pop("$defs", None)
    for path_item in openapi.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            statuses = list(COMMON_ERROR_STATUSES)
            if method in {"post", "put", "patch"}:
                statuses += BODY_ERROR_STATUSES
            for status in statuses:
                responses.setdefault(str(status), {"description": _DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["description"] = response.get("description") or _DESCRIPTIONS.get(int(status), "")
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": ref}}
    for unused in ("HTTPValidationError", "ValidationError"):
        if not _referenced(openapi, unused):
            schemas.pop(unused, None)
    return openapi


def _referenced(openapi: dict[str, Any], name: str) -> bool:
    import json

    return f'"#/components/schemas/{name}"' in json.dumps(openapi.get("paths", {}))
