"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol, loopback only.

The protocol runs over a pipe (``--remote-debugging-pipe``: fd 3 in, fd 4 out, one JSON
message per NUL-terminated chunk), so no port is opened and no websocket client is needed.
Host names other than the loopback addresses resolve to nothing, so a page that reaches for
the internet fails here even on a machine that has it.

    with Chromium() as browser:
        page = browser.open("http://127.0.0.1:8000/docs", ready="document.title !== ''", timeout=30)
        page.requests, page.csp_violations, page.errors, page.evaluate("...")
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

from storefront_harness.polling import wait_for


class BrowserError(RuntimeError):
    """Chromium is missing, did not answer, or the page failed."""


# Recorded before any of the page's own scripts run; CDP-injected scripts are outside the page's CSP.
_RECORD_CSP = ("window.__cspViolations = [];"
               "document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push("
               "e.violatedDirective + ' ' + e.blockedURI));")


def chromium_binary() -> str | None:
    return shutil.which("chromium")


@dataclass
class Page:
    browser: Chromium
    session: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # console errors, uncaught exceptions, failed loads

    def evaluate(self, expression: str) -> Any:
        result = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   session=self.session)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    @property
    def csp_violations(self) -> list[str]:
        return list(self.evaluate("window.__cspViolations || []"))

    def screenshot(self, path: str) -> None:
        import base64

        data = self.browser.call("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
        with open(path, "wb") as out:
            out.write(base64.b64decode(data))


class Chromium:
    def __init__(self, binary: str | None = None, window: str = "1280,1600") -> None:
        self.binary = binary or chromium_binary()
        if not self.binary:
            raise BrowserError("chromium is not installed (hack/setup.sh browser installs Debian's chromium)")
        self.window = window
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._events: list[dict] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Chromium:
        self._profile = tempfile.TemporaryDirectory(prefix="storefront-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium speaks on fds 3 and 4; bash moves the pipe ends there (copies above 9 first, so
        # no move overwrites the other end).
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w)]
        os.close(to_browser_r)
        os.close(from_browser_w)
        to_browser_r, from_browser_w = ends
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}", f"--window-size={self.window}",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions", "--metrics-recording-only",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost", "about:blank"]
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- '
                                f'{from_browser_w}>&-', self.binary, *args],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, pass_fds=ends,
            start_new_session=True,  # its renderers and zygote share its process group
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except BrowserError:
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        self._profile.cleanup()

    def output(self) -> str:
        """What chromium printed, for a failing test's message."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        box = self._replies.get(message["id"])
                    if box is not None:
                        box.put(message)
                else:
                    with self._lock:
                        self._events.append(message)

    def call(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float = 30) -> dict:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            box: queue.Queue = queue.Queue(maxsize=1)
            self._replies[ident] = box
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
            reply = box.get(timeout=timeout)
        except (OSError, queue.Empty) as exc:
            raise BrowserError(f"chromium did not answer {method} within {timeout}s: {exc!r}\n{self.output()}") from exc
        finally:
            with self._lock:
                self._replies.pop(ident, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def open(self, url: str, *, ready: str, timeout: float = 60) -> Page:
        """Loads url in a new tab and polls the JavaScript expression ``ready`` until it is true
        (at most ``timeout`` seconds). The page records its requests, errors and CSP violations."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_CSP}, session=session)
        navigated = self.call("Page.navigate", {"url": url}, session=session)
        if navigated.get("errorText"):
            raise BrowserError(f"{url}: {navigated['errorText']}")

        def is_ready() -> bool:
            self._collect(page)
            return bool(page.evaluate(f"Boolean({ready})"))

        wait_for(is_ready, timeout=timeout, message=f"{url}: {ready}",
                 diagnostics=lambda: f"requests {page.requests}\nerrors {page.errors}\n{self.output()}",
                 give_up=lambda: f"chromium exited ({self.process.returncode})" if self.process.poll() is not None
                 else None)
        self._collect(page)
        return page

    def _collect(self, page: Page) -> None:
        with self._lock:
            events, self._events = [e for e in self._events if e.get("sessionId") == page.session], \
                [e for e in self._events if e.get("sessionId") != page.session]
        for event in events:
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                page.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                page.errors.append(f"failed to load ({params.get('errorText')}): request {params.get('requestId')}")
            elif method == "Runtime.exceptionThrown":
                page.errors.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                page.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                                for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                page.errors.append(f"{params['entry'].get('source')}: {params['entry'].get('text')}")
