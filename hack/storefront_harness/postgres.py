"""A throw-away PostgreSQL server (Debian's ``postgresql`` package)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import ComponentError
from .process import free_port, spawn, stop, wait_until


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not candidates:
        raise ComponentError("PostgreSQL", "postgres", None, None, "no /usr/lib/postgresql/*/bin: install the postgresql package")
    return Path(candidates[-1])


class PostgresServer:
    """initdb into a temp dir, served on a free loopback port.

    PostgreSQL refuses to run as root, so when the harness runs as root the server runs
    as the ``postgres`` system user that the Debian package creates.
    """

    user = "storefront"
    password = "storefront"

    def __init__(self, base_dir: Path | None = None, port: int | None = None):
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="sf-pg-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log = self.base_dir / "postgres.log"
        self.port = port or free_port()
        self.bin = _bin_dir()
        self.proc: subprocess.Popen | None = None
        self._run_as: dict = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self._run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            self._owner = (pw.pw_uid, pw.pw_gid)
        else:
            self._owner = None

    # -- lifecycle ---------------------------------------------------------------------
    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._owner:
            for p in (self.base_dir, self.socket_dir):
                os.chown(p, *self._owner)

    def init(self) -> None:
        self._prepare_dirs()
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password)
        if self._owner:
            os.chown(pwfile, *self._owner)
        result = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", self.user, "--pwfile", str(pwfile),
             "-A", "scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            capture_output=True, text=True, cwd=self.base_dir, **self._run_as,
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise ComponentError("PostgreSQL", "initdb", None, None, result.stderr.strip() or result.stdout.strip())

    def start(self, timeout: float = 30) -> PostgresServer:
        if not (self.data_dir / "PG_VERSION").exists():
            self.init()
        self.proc = spawn(
            [str(self.bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.socket_dir}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=300", "-c", "shared_buffers=128MB"],
            self.log, cwd=self.base_dir, **self._run_as,
        )
        reason = wait_until(self._accepting, self.proc, timeout)
        if reason:
            self.stop()
            raise ComponentError("PostgreSQL", "postgres", self.port, self.log, reason)
        return self

    def _accepting(self) -> bool:
        r = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user],
            capture_output=True,
        )
        return r.returncode == 0

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: it ends sessions and exits cleanly.
        import signal

        stop(self.proc, signal.SIGINT, timeout=30)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- databases ---------------------------------------------------------------------
    def psql(self, sql: str, database: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        r = subprocess.run(
            [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database,
             "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            capture_output=True, text=True, env=env,
        )
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"


class PostgresStandby(PostgresServer):
    """A hot standby of ``primary``: a base backup streamed from it, then streaming replication,
    read-only and lagging by however long replay takes (or for ever while replay is paused)."""

    def __init__(self, primary: PostgresServer, base_dir: Path | None = None, port: int | None = None):
        super().__init__(base_dir or Path(tempfile.mkdtemp(prefix="sf-pg-standby-")), port)
        self.primary = primary

    def init(self) -> None:
        self._prepare_dirs()
        # -R writes standby.signal and primary_conninfo; -X stream copies the WAL the backup needs.
        result = subprocess.run(
            [str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", self.user,
             "-D", str(self.data_dir), "-R", "-X", "stream", "--no-sync", "-c", "fast"],
            capture_output=True, text=True, cwd=self.base_dir, env={**os.environ, "PGPASSWORD": self.password},
            **self._run_as,
        )
        if result.returncode != 0:
            raise ComponentError("PostgreSQL standby", "pg_basebackup", self.primary.port, None,
                                 result.stderr.strip() or result.stdout.strip())

    def pause_replay(self) -> None:
        self.psql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.psql("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, timeout: float = 30) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        import time

        # The insert position: with synchronous_commit=off a commit may not be written out yet.
        target = self.primary.psql("SELECT pg_current_wal_insert_lsn()")
        deadline = time.monotonic() + timeout
        while self.psql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") != "t":
            if time.monotonic() > deadline:
                raise TimeoutError(f"standby on port {self.port} did not replay up to {target} in {timeout:.0f}s")
            time.sleep(0.05)
