"""Locates the Kubernetes binaries that ``hack/build-tools.sh`` builds into its cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import ComponentError


def cache_dir() -> Path:
    """The cache hack/build-tools.sh builds into (``STOREFRONT_TOOLS_CACHE`` moves it)."""
    return Path(os.environ.get("STOREFRONT_TOOLS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "storefront-tools"))


def tools_dir() -> Path:
    explicit = os.environ.get("STOREFRONT_TOOLS_BIN")
    if explicit:
        return Path(explicit)
    return cache_dir() / "bin"


def tool(name: str) -> str:
    path = tools_dir() / name
    if path.exists() and os.access(path, os.X_OK):
        return str(path)
    found = shutil.which(name)
    if found:
        return found
    raise ComponentError(name, name, None, None, f"{path} is missing: run hack/build-tools.sh")
