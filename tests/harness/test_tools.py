"""Tools built beside a run (``BackgroundBuild``): ``tool`` waits for one still building, a failed
build fails its caller with the build's log, and stopping the run stops the build. A script in
hack/build-tools.sh's place builds stand-in binaries into a throw-away cache."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

from storefront_harness.errors import ComponentError
from storefront_harness.polling import wait_for
from storefront_harness.tools import BUILDING_ENV, BackgroundBuild, tool


def _build_script(tmp_path: Path, body: str) -> Path:
    """A build-tools.sh of the same interface: `script GROUP` builds GROUP into the cache's bin/."""
    script = tmp_path / "build-tools.sh"
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\ngroup=$1\nbin=$STOREFRONT_TOOLS_CACHE/bin\n"
                      + textwrap.dedent(body))
    script.chmod(0o755)
    return script


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STOREFRONT_TOOLS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("STOREFRONT_TOOLS_BIN", raising=False)
    # Recorded so that what BackgroundBuild.start() sets in this process is undone afterwards.
    monkeypatch.setenv(BUILDING_ENV, "")
    return tmp_path / "cache"


def test_tool_waits_for_the_background_build_of_each_group_in_turn(tmp_path: Path, cache: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    script = _build_script(tmp_path, """
        echo "building $group" >&2
        # jaeger is only built once the test has asked for promtool (and got it).
        if [ "$group" = jaeger ]; then while [ ! -e "$STOREFRONT_TOOLS_CACHE/go-on" ]; do sleep 0.1; done; fi
        mkdir -p "$bin"; printf '#!/bin/sh\\necho %s\\n' "$group" > "$bin/$group.tmp"
        chmod +x "$bin/$group.tmp"; mv "$bin/$group.tmp" "$bin/$group"
    """)
    assert BackgroundBuild.missing(["promtool", "jaeger"]) == ["promtool", "jaeger"]
    build = BackgroundBuild(["promtool", "jaeger"], tmp_path / "state", script).start()
    assert os.environ[BUILDING_ENV] == str(build.state_dir)  # what the run's workers inherit
    try:
        assert tool("promtool") == str(cache / "bin" / "promtool")
        assert not (cache / "bin" / "jaeger").exists()
        (cache / "go-on").touch()
        assert tool("jaeger") == str(cache / "bin" / "jaeger")
        assert BackgroundBuild.missing(["promtool", "jaeger"]) == []
        assert "building promtool" in (build.state_dir / "build.log").read_text()
    finally:
        build.stop()


def test_a_failed_background_build_fails_the_caller_with_its_log(tmp_path: Path, cache: Path) -> None:
    script = _build_script(tmp_path, """
        echo "go: github.com/example/missing@v1.2.3: not found" >&2
        exit 1
    """)
    build = BackgroundBuild(["prometheus"], tmp_path / "state", script).start()
    try:
        with pytest.raises(ComponentError) as failure:
            tool("prometheus")
        message = str(failure.value)
        assert "ended with status 1" in message
        assert "github.com/example/missing@v1.2.3: not found" in message
    finally:
        build.stop()


def test_a_tool_no_background_build_makes_is_reported_missing(tmp_path: Path, cache: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    build = BackgroundBuild(["jaeger"], tmp_path / "state", _build_script(tmp_path, "exit 0\n"))
    (build.state_dir).mkdir()
    (build.state_dir / "groups.json").write_text('{"jaeger": ["jaeger"]}')
    monkeypatch.setenv(BUILDING_ENV, str(build.state_dir))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(ComponentError, match="run hack/build-tools.sh"):
        tool("sf-no-such-tool")
    with pytest.raises(ValueError, match="not a group that can be built in the background: kubelet"):
        BackgroundBuild(["kubelet"], tmp_path / "other")


def test_stopping_the_build_stops_its_processes(tmp_path: Path, cache: Path) -> None:
    script = _build_script(tmp_path, """
        echo $$ > "$STOREFRONT_TOOLS_CACHE.pid"
        sleep 600 &  # a compiler, say: a child of the build
        echo $! > "$STOREFRONT_TOOLS_CACHE.child"
        wait
    """)
    build = BackgroundBuild(["jaeger"], tmp_path / "state", script).start()
    pids = wait_for(lambda: [int(Path(f"{cache}.{kind}").read_text()) for kind in ("pid", "child")],
                    timeout=30, message="the stand-in build's processes")
    build.stop(timeout=10)
    assert build.proc is not None and build.proc.returncode == -signal.SIGTERM
    wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=10, message="the build's processes to end")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
