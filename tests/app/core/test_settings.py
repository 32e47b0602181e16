"""Settings from the environment, and secrets from mounted files (``STOREFRONT_X_FILE``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Settings

SECRETS = ["database_url", "database_read_url", "redis_password", "pii_encryption_key", "blind_index_key",
           "seed_admin_password"]


def test_defaults_need_no_environment(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("STOREFRONT_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.environment == "production"
    assert settings.database_read_url is None
    assert settings.password_hash_threads == 0 and settings.retention_purge_interval_seconds == 3600
    assert settings.audit_retention_days == 365


@pytest.mark.parametrize("secret", SECRETS)
def test_a_mounted_file_wins_over_the_variable(monkeypatch, tmp_path, secret):
    path = tmp_path / secret
    path.write_text("from-the-file\n")
    monkeypatch.setenv(f"STOREFRONT_{secret.upper()}", "from-the-variable")
    monkeypatch.setenv(f"STOREFRONT_{secret.upper()}_FILE", str(path))
    value = getattr(Settings(), secret)
    assert value.get_secret_value() == "from-the-file"  # trailing newline of `kubectl create secret` dropped
    assert "from-the-file" not in repr(value)  # SecretStr: never printed


def test_an_unreadable_file_names_the_setting_not_the_content(monkeypatch, tmp_path):
    monkeypatch.setenv("STOREFRONT_DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="STOREFRONT_DATABASE_URL_FILE: cannot read .*missing"):
        Settings()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    monkeypatch.setenv("STOREFRONT_DATABASE_URL_FILE", str(empty))
    with pytest.raises(ValidationError, match="STOREFRONT_DATABASE_URL_FILE: .*empty is empty"):
        Settings()


def test_the_cluster_node_list_may_appear_later(monkeypatch, tmp_path):
    nodes = tmp_path / "nodes"
    monkeypatch.setenv("STOREFRONT_REDIS_CLUSTER_NODES_FILE", str(nodes))
    assert Settings().redis_cluster_nodes == ""
    nodes.write_text("")  # written before the cluster is formed
    assert Settings().redis_cluster_nodes == ""
    nodes.write_text("10.0.0.1:6379,10.0.0.2:6379\n")
    assert Settings().redis_cluster_nodes == "10.0.0.1:6379,10.0.0.2:6379"


def test_out_of_range_values_are_refused(monkeypatch):
    monkeypatch.setenv("STOREFRONT_ARGON2_MEMORY_KIB", "1024")
    with pytest.raises(ValidationError, match="argon2_memory_kib"):
        Settings()
