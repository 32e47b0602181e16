from __future__ import annotations

from pathlib import Path


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class ComponentError(RuntimeError):
    """A harness component could not start; names the binary, its port and its log tail."""

    def __init__(self, component: str, binary: str, port: int | None, log: Path | None, reason: str):
        where = f" on 127.0.0.1:{port}" if port else ""
        log_part = f"\n--- last lines of {log} ---\n{tail(log)}" if log else ""
        super().__init__(f"{component} ({binary}){where} failed to start: {reason}{log_part}")
        self.component = component
