"""A throw-away image registry on loopback: the CNCF distribution registry (``registry serve``,
built by ``hack/build-tools.sh registry``), plain HTTP, its storage in a temporary directory.

What skaffold builds is pushed to it and a local node's containerd pulls from it: the usual
kind-with-a-local-registry setup, with no registry beyond this machine. Docker speaks plain HTTP
to a 127.0.0.0/8 registry by default; containerd needs a hosts.toml saying so."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import yaml

from .errors import ComponentError
from .process import free_port, port_open, spawn, stop, wait_until
from .tools import tool


class Registry:
    def __init__(self, base_dir: Path | None = None, port: int | None = None):
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="sf-registry-"))
        self.port = port or free_port()
        self.log = self.base_dir / "registry.log"
        self.proc = None

    @property
    def address(self) -> str:
        """host:port, which is also the repository prefix of every image pushed here."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Registry:
        binary = tool("registry")
        if port_open(self.port):
            raise ComponentError("registry", binary, self.port, None, "the port is already in use")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        config = self.base_dir / "config.yml"
        config.write_text(yaml.safe_dump({
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.base_dir / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.address, "secret": "loopback-only"},
        }))
        self.proc = spawn([binary, "serve", str(config)], self.log, env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
        reason = wait_until(lambda: self._get("/v2/")[0] == 200, self.proc, timeout)
        if reason:
            self.stop()
            raise ComponentError("registry", binary, self.port, self.log, reason)
        return self

    def _get(self, path: str) -> tuple[int, dict]:
        with urllib.request.urlopen(f"http://{self.address}{path}", timeout=2) as r:
            body = r.read()
            return r.status, json.loads(body) if body else {}

    def repositories(self) -> list[str]:
        return self._get("/v2/_catalog")[1].get("repositories", [])

    def tags(self, repository: str) -> list[str]:
        return self._get(f"/v2/{repository}/tags/list")[1].get("tags") or []

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)
