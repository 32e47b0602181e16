"""/docs in a real browser (Debian's headless Chromium) with no network beyond loopback: the page,
Swagger UI and its start-up script come from the app, the docs CSP allows only 'self', and the
rendered page lists every operation of the API."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import uvicorn

from app.main import create_app
from storefront_harness.browser import Chromium
from storefront_harness.polling import wait_for
from storefront_harness.process import free_port

# Set to a path to keep a picture of the rendered page (for a person to look at).
SCREENSHOT = os.environ.get("STOREFRONT_DOCS_SCREENSHOT")
OPERATIONS_JS = """Array.from(document.querySelectorAll('.opblock-summary')).map(s =>
    s.querySelector('.opblock-summary-method').textContent + ' ' +
    s.querySelector('.opblock-summary-path').getAttribute('data-path'))"""


@pytest.fixture
def served(settings) -> Iterator[tuple[str, dict]]:
    """The app under uvicorn on a loopback port; (base URL, its OpenAPI schema)."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="docs-server", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=60, message="uvicorn serving the app",
                 give_up=lambda: None if thread.is_alive() else "the server thread ended")
        yield f"http://127.0.0.1:{port}", app.openapi()
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_docs_render_every_operation_offline(served):
    base, schema = served
    expected = sorted(f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item)
    with Chromium() as browser:
        page = browser.open(f"{base}/docs", ready="document.querySelectorAll('.opblock-summary').length > 0",
                            timeout=90)
        # Every tag is expanded, so once one operation shows, all have rendered.
        operations = sorted(page.evaluate(OPERATIONS_JS))
        violations, requests, errors = page.csp_violations, page.requests, page.errors
        title = page.evaluate("document.querySelector('.info .title').textContent")
        if SCREENSHOT:
            page.screenshot(SCREENSHOT)
        # The CSP is enforced (and the recorder works): an inline script is refused.
        page.evaluate("(() => { const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';"
                      " document.body.appendChild(s); })()")
        refused = wait_for(lambda: page.csp_violations, timeout=10, message="the inline script refused")
        assert page.evaluate("window.inlineRan === undefined")
    assert operations == expected
    assert "Storefront API" in title
    assert not violations, violations
    assert requests and all(url.startswith(base + "/") for url in requests), requests
    assert not errors, errors
    assert refused == ["script-src-elem inline"], refused
