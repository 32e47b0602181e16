"""The command line, run as the image runs it: migrate (with the termination log), keyset
generate, create-admin, and serve answering /ready and a login of the seeded admin."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from storefront_harness.process import free_port

ROOT = Path(__file__).resolve().parents[2]
# The newest revision of migrations/, read by Alembic itself, so a new migration needs no edit here.
HEAD = ScriptDirectory(str(ROOT / "migrations")).get_current_head()


def _env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "STOREFRONT_DATABASE_URL": database_url,
        "STOREFRONT_REDIS_URL": redis_url,
        "STOREFRONT_JWT_KEYSET_FILE": str(tmp_path / "keyset.json"),
        "STOREFRONT_PII_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "STOREFRONT_BLIND_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
        "STOREFRONT_TERMINATION_LOG": str(tmp_path / "termination-log"),
        "STOREFRONT_GIT_SHA": "abc1234",
        "STOREFRONT_ACCESS_LOG": "true",
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_migrate_keyset_admin_and_serve(database_factory, redis_server, tmp_path):
    env = _env(database_factory(), redis_server.url, tmp_path)

    migrated = _cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert (tmp_path / "termination-log").read_text() == HEAD
    for line in migrated.stdout.splitlines():
        if line.startswith("{"):
            assert "storefront:storefront@" not in line  # no credentials in logs

    generated = _cli(env, "keyset", "generate", "--out", str(tmp_path / "keyset.json"))
    assert generated.returncode == 0, generated.stderr
    assert json.loads((tmp_path / "keyset.json").read_text())["active_kid"]

    password = "-orchard-lantern-seed-7731"  # a leading dash, as a generated one may have
    admin = _cli(env, "create-admin", "--email", "admin@example.com", f"--password={password}", "--name", "Admin")
    assert admin.returncode == 0, admin.stderr

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        # Importing the app is seconds of CPU; a busy machine stretches that to most of a minute.
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        version = httpx.get(f"{base}/version").json()
        assert version["git_sha"] == "abc1234" and version["schema_revision"] == HEAD
        login = httpx.post(f"{base}/auth/login", json={"email": "admin@example.com", "password": password},
                           headers={"X-Request-ID": "cli-test-login"})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        created = httpx.post(f"{base}/products", json={"name": "Served", "price": "1.00"},
                             headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201, created.text
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    log_lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert log_lines, output[-2000:]
    login_lines = [entry for entry in log_lines if entry.get("correlation_id") == "cli-test-login"]
    assert login_lines, "the access log line carries the correlation id"
    assert password not in output and token not in output


def test_purge_expired_deletes_only_what_its_retention_allows(postgres_server, database_factory,
                                                               redis_server, tmp_path):
    url = database_factory()
    database = url.rsplit("/", 1)[1]
    env = _env(url, redis_server.url, tmp_path)
    assert _cli(env, "migrate").returncode == 0
    assert _cli(env, "create-admin", "--email", "keeper@example.com", "--password", "orchard-lantern-river-42",
                "--name", "Admin").returncode == 0
    user = postgres_server.psql("SELECT id FROM users", database)
    postgres_server.psql(
        "INSERT INTO refresh_token_families (id, user_id, expires_at) VALUES "
        f"(gen_random_uuid(), '{user}', now() - interval '10 days'), "
        f"(gen_random_uuid(), '{user}', now() - interval '1 hour'), "
        f"(gen_random_uuid(), '{user}', now() + interval '1 day'); "
        "INSERT INTO audit_log (id, created_at, event, outcome, actor_type) VALUES "
        "(gen_random_uuid(), now() - interval '2 years', 'auth.login.success', 'success', 'user')", database)

    purged = _cli(env, "purge-expired")  # defaults: sessions a week after their end, audit events after a year
    assert purged.returncode == 0, purged.stderr
    assert "deleted 1 ended sessions" in purged.stdout and "1 audit events older than 365 days" in purged.stdout
    assert "0 finished webhook deliveries older than 30 days" in purged.stdout
    assert postgres_server.psql("SELECT count(*) FROM refresh_token_families", database) == "2"
    assert postgres_server.psql("SELECT count(*) FROM audit_log WHERE created_at < now() - interval '1 year'",
                                database) == "0"

    purged = _cli(env, "purge-expired", "--session-retention-seconds", "0", "--audit-retention-days", "0",
                  "--webhook-delivery-retention-days", "0")
    assert "deleted 1 ended sessions" in purged.stdout and "no audit events" in purged.stdout
    assert "no webhook deliveries (retention 0 keeps them)" in purged.stdout
    assert postgres_server.psql("SELECT count(*) FROM refresh_token_families WHERE expires_at > now()", database) == "1"


def test_migrate_failure_is_reported(tmp_path):
    env = _env("postgresql+asyncpg://nobody:wrong@127.0.0.1:1/none", "redis://127.0.0.1:1/0", tmp_path)
    result = _cli(env, "migrate")
    assert result.returncode == 1
    message = (tmp_path / "termination-log").read_text()
    assert message.startswith("migration failed:") and "wrong" not in message


def test_a_bad_port_variable_is_a_usage_error_of_serve_only(tmp_path):
    """Kubernetes service links put STOREFRONT_PORT=tcp://... into a pod's environment when a
    Service is named "storefront": other commands must not trip over it, serve names it."""
    env = {**_env("postgresql+asyncpg://x@127.0.0.1:1/x", "redis://127.0.0.1:1/0", tmp_path),
           "STOREFRONT_PORT": "tcp://198.18.2.10:80"}
    generated = _cli(env, "keyset", "generate", "--out", str(tmp_path / "k.json"))
    assert generated.returncode == 0, generated.stderr
    served = _cli(env, "serve")
    assert served.returncode == 2
    assert "argument --port: invalid int value: 'tcp://198.18.2.10:80'" in served.stderr
    assert "Traceback" not in served.stderr
