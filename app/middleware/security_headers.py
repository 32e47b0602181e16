"""Security headers on every response (OWASP Secure Headers)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The API serves JSON only: nothing may load, frame or run.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The interactive docs (app/api/docs.py): the page, Swagger UI and its start-up script all come
# from this app; Swagger UI's stylesheet draws its icons as data: images.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
DOCS_PATHS = frozenset({"/docs"})
NO_STORE = (b"cache-control", b"no-store")


def _has_credentials(scope: Scope) -> bool:
    return any(name in (b"authorization", b"x-api-key") for name, _ in scope["headers"])


def _headers(csp: str, hsts_max_age: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", csp.encode()),
        (b"strict-transport-security", f"max-age={hsts_max_age}; includeSubDomains".encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    ]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, hsts_max_age: int = 63_072_000) -> None:
        self.app = app
        self.api_headers = _headers(API_CSP, hsts_max_age)
        self.docs_headers = _headers(DOCS_CSP, hsts_max_age)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        extra = self.docs_headers if path in DOCS_PATHS else self.api_headers
        if path.startswith("/auth/") or _has_credentials(scope):
            # Tokens and per-user data must not be kept by browsers or shared caches.
            extra = [*extra, NO_STORE]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if NO_STORE in extra and any(name == b"cache-control" for name, _ in headers):
                    message["headers"] = [*headers, *(h for h in extra if h is not NO_STORE)]
                else:
                    message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
