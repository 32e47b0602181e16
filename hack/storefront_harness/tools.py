"""Locates the Kubernetes binaries that ``hack/build-tools.sh`` builds into its cache, and builds
some of them beside a test run (``BackgroundBuild``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .errors import ComponentError
from .process import live_processes

REPO = Path(__file__).resolve().parents[2]
BUILD_TOOLS = REPO / "hack" / "build-tools.sh"
# Where a background build says what it builds and how each group ended (its state directory).
BUILDING_ENV = "STOREFRONT_TOOLS_BUILDING"
# The binaries each group of hack/build-tools.sh that may be built in the background makes.
GROUP_TOOLS = {"promtool": ("promtool",), "prometheus": ("prometheus",), "jaeger": ("jaeger",)}
# A wait for a background build is bounded: at the lowest priority beside a busy suite it takes
# several times its idle time (minutes), but never this long.
BUILD_WAIT_SECONDS = 45 * 60


def cache_dir() -> Path:
    """The cache hack/build-tools.sh builds into (``STOREFRONT_TOOLS_CACHE`` moves it)."""
    return Path(os.environ.get("STOREFRONT_TOOLS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "storefront-tools"))


def tools_dir() -> Path:
    explicit = os.environ.get("STOREFRONT_TOOLS_BIN")
    if explicit:
        return Path(explicit)
    return cache_dir() / "bin"


def _usable(path: Path) -> bool:
    return path.exists() and os.access(path, os.X_OK)


def tool(name: str) -> str:
    """The binary's path. One a background build is making is waited for (bounded); a build
    that failed fails the caller with the build's log tail."""
    path = tools_dir() / name
    if _usable(path):
        return str(path)
    state = os.environ.get(BUILDING_ENV)
    if state and (group := BackgroundBuild.group_of(Path(state), name)):
        BackgroundBuild.wait_for_group(Path(state), group, name, path)
        return str(path)
    found = shutil.which(name)
    if found:
        return found
    raise ComponentError(name, name, None, None, f"{path} is missing: run hack/build-tools.sh")


class BackgroundBuild:
    """``hack/build-tools.sh`` for the given groups, one after another, started beside the
    tests at the lowest CPU priority: it takes only the CPU the tests leave idle, and ``tool``
    waits for what it has not built yet. Its state directory holds the groups (``groups.json``),
    the build log (``build.log``) and each finished group's exit status (``<group>.rc``)."""

    def __init__(self, groups: list[str], state_dir: Path, script: Path = BUILD_TOOLS):
        unknown = [g for g in groups if g not in GROUP_TOOLS]
        if unknown:
            raise ValueError(f"not a group that can be built in the background: {', '.join(unknown)}")
        self.groups = groups
        self.state_dir = state_dir
        self.script = script
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def missing(groups: list[str]) -> list[str]:
        """The groups whose binaries are not all in the tools cache yet."""
        return [g for g in groups if not all(_usable(tools_dir() / t) for t in GROUP_TOOLS[g])]

    def start(self) -> BackgroundBuild:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "groups.json").write_text(json.dumps({g: list(GROUP_TOOLS[g]) for g in self.groups}))
        # Each group's status is written once its binaries are linked into the cache's bin/.
        steps = "; ".join(
            f'nice -n 19 "$0" {g} >/dev/null 2>>"$1/build.log"; echo $? >"$1/{g}.rc.tmp"; mv "$1/{g}.rc.tmp" "$1/{g}.rc"'
            for g in self.groups)
        self.proc = subprocess.Popen(["bash", "-c", steps, str(self.script), str(self.state_dir)],
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        os.environ[BUILDING_ENV] = str(self.state_dir)
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stops what is still building (the Go build cache keeps what it compiled)."""
        # The whole process group: the compilers may outlive the script that started them (a
        # stopped run's SIGTERM reaches that script first).
        if self.proc is None:
            return
        pgid = self.proc.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self._group_alive():
                break
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._group_alive():
                time.sleep(0.2)
        self.proc.wait(timeout=timeout)  # the script's exit status, once it is gone

    def _group_alive(self) -> bool:
        assert self.proc is not None
        return any(stat.pgrp == self.proc.pid for stat in live_processes().values())

    @staticmethod
    def group_of(state_dir: Path, name: str) -> str | None:
        try:
            groups = json.loads((state_dir / "groups.json").read_text())
        except (OSError, ValueError):
            return None
        return next((g for g, tools in groups.items() if name in tools), None)

    @staticmethod
    def wait_for_group(state_dir: Path, group: str, name: str, path: Path,
                       timeout: float = BUILD_WAIT_SECONDS) -> None:
        log = state_dir / "build.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc_file = state_dir / f"{group}.rc"
            if rc_file.exists():
                rc = rc_file.read_text().strip()
                if rc == "0" and _usable(path):
                    return
                raise ComponentError(name, str(BUILD_TOOLS), None, log,
                                     f"building it in the background ended with status {rc}, and {path} is missing")
            time.sleep(0.5)
        raise ComponentError(name, str(BUILD_TOOLS), None, log,
                             f"still building in the background after {timeout:.0f} s")

