"""Shared by the developer loop's conftest and tests (a module of its own: every conftest is
named ``conftest``, so a test cannot import from one by name)."""

from __future__ import annotations

from pathlib import Path

# Logs a failing test shows in its report (skaffold's output files), appended as they are made.
LOGS: list[Path] = []
