"""The Docker daemon the image builds share, from Python (the shell side is hack/lib/images.sh).

Image builds on this machine take ``/run/lock/storefront-images.lock`` (flock) for as long as
they use the daemon, and the one that started the daemon stops it before letting go. Holding
that lock, a running daemon therefore belongs to nobody who will stop it underneath us; with
none running, :class:`DockerSession` starts one exactly as hack/lib/images.sh does (no iptables
rules, no ip_forward change, no docker0 bridge) and stops it when it ends.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

from .errors import ComponentError, tail
from .process import spawn, stop

IMAGES_LOCK = Path("/run/lock/storefront-images.lock")
DOCKERD_ARGS = ["--iptables=false", "--ip6tables=false", "--ip-forward=false", "--bridge=none"]


def docker_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def keep_as_build_cache(repo: str) -> None:
    """Drops every name images got for a registry at ``repo`` (host:port, gone with that
    registry): tags, and the repo@digest references pushes leave. The newest image of each tag
    stays as ``storefront-devloop:<image>``, whose layers are the next build's cache; the image
    that name held before is removed."""
    def docker(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    listed = docker("image", "ls", "--digests", "--filter", f"reference={repo}/*",
                    "--format", "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}")
    for line in listed.stdout.splitlines():
        if not line.strip():
            continue
        repository, tag, digest, image_id = line.split()
        if tag != "<none>":
            cache = f"storefront-devloop:{repository[len(repo) + 1:]}"
            previous = docker("image", "inspect", "-f", "{{.Id}}", cache).stdout.strip()
            docker("tag", image_id, cache)
            docker("rmi", f"{repository}:{tag}")
            if previous and not previous.removeprefix("sha256:").startswith(image_id):
                docker("rmi", previous)  # refused, harmlessly, while a newer image still builds on it
        if digest != "<none>":
            docker("rmi", f"{repository}@{digest}")


class DockerSession:
    """The images lock, and a Docker daemon while it is held."""

    def __init__(self, log_dir: Path, lock_timeout: float = 1800):
        self.log = Path(log_dir) / "dockerd.log"
        self.lock_timeout = lock_timeout
        self._fd: int | None = None
        self._dockerd: subprocess.Popen | None = None

    def __enter__(self) -> DockerSession:
        if not shutil.which("docker") or not shutil.which("dockerd"):
            raise ComponentError("docker", "docker", None, None, "docker is missing: apt-get install docker.io")
        IMAGES_LOCK.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(IMAGES_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._release()
                    raise ComponentError("docker", "flock", None, None,
                                         f"another image build held {IMAGES_LOCK} for {self.lock_timeout:.0f}s") from None
                time.sleep(1)
        try:
            if not docker_answers():
                self._start_dockerd()
        except BaseException:
            self._release()
            raise
        return self

    def _start_dockerd(self) -> None:
        self._dockerd = spawn(["dockerd", *DOCKERD_ARGS], self.log)
        deadline = time.monotonic() + 60
        while not docker_answers():
            if self._dockerd.poll() is not None or time.monotonic() > deadline:
                reason = tail(self.log, 30)
                self._stop_dockerd()
                raise ComponentError("docker", "dockerd", None, self.log, f"dockerd did not answer: {reason}")
            time.sleep(0.5)

    def _stop_dockerd(self) -> None:
        stop(self._dockerd, timeout=30)
        self._dockerd = None

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __exit__(self, *exc) -> None:
        try:
            self._stop_dockerd()
        finally:
            self._release()
