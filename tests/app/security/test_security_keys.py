"""Keyset parsing, validation and live reload of the file."""

from __future__ import annotations

import json
import os

import pytest

from app.core.security.keys import KeyManager, KeysetError, generate_key, generate_keyset, parse_keyset, write_keyset


def _bytes(doc) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_generated_keysets_parse(alg):
    doc = generate_keyset(alg)
    keyset = parse_keyset(_bytes(doc))
    assert keyset.active_kid == doc["active_kid"] and keyset.active.alg == alg
    jwk = keyset.active.jwk()
    assert jwk["kid"] == doc["active_kid"] and "d" not in jwk


def _broken(mutate):
    doc = generate_keyset()
    mutate(doc)
    return _bytes(doc)


# Named by the expected message: the keysets are generated, so they cannot name the tests
# (the xdist workers must collect the same ids).
_INVALID = [
    (b"not json", "not valid JSON"),
    (_bytes({"version": 2, "keys": []}), "version 1"),
    (_broken(lambda d: d.update(keys=[])), "non-empty"),
    (_broken(lambda d: d.update(active_kid="missing")), "not one of the keys"),
    (_broken(lambda d: d["keys"][0].update(alg="HS256")), "alg must be one of"),
    (_broken(lambda d: d["keys"][0].update(alg="ES256")), "does not fit alg"),
    (_broken(lambda d: d["keys"][0].update(state="pending")), "must have state 'active'"),
    (_broken(lambda d: d["keys"][0].update(private_key=None)), "must have state 'active' and a private_key"),
    (_broken(lambda d: d["keys"][0].update(public_key="garbage")), "not a PEM public key"),
    (_broken(lambda d: d["keys"][0].update(public_key=generate_key()["public_key"])), "not a pair"),
    (_broken(lambda d: d["keys"].append(dict(d["keys"][0]))), "duplicate kid"),
    (_broken(lambda d: d["keys"].append(generate_key())), "only the active_kid"),
]


@pytest.mark.parametrize("content, message", _INVALID, ids=[message for _, message in _INVALID])
def test_invalid_keysets_are_refused_with_a_reason(content, message):
    with pytest.raises(KeysetError, match=message):
        parse_keyset(content)


def test_pending_and_retired_keys_may_omit_the_private_key():
    doc = generate_keyset()
    extra = generate_key("ES256", state="retired")
    extra["private_key"] = None
    doc["keys"].append(extra)
    assert set(parse_keyset(_bytes(doc)).keys) == {doc["active_kid"], extra["kid"]}


def test_manager_reloads_on_change_and_keeps_the_last_good_keyset(tmp_path):
    path = tmp_path / "keyset.json"
    first = generate_keyset()
    write_keyset(path, first)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    manager = KeyManager(path)
    assert manager.ready() and manager.signing_key().kid == first["active_kid"]
    second = generate_keyset("ES256")
    write_keyset(path, second)
    assert manager.signing_key().kid == second["active_kid"]
    path.write_text("{")
    assert manager.signing_key().kid == second["active_kid"] and "rejected" in manager.last_error
    path.unlink()
    assert manager.ready()  # a vanished file is not a reason to stop signing


def test_manager_follows_a_swapped_symlink(tmp_path):
    # The kubelet updates a Secret volume by re-pointing the ..data symlink.
    for name, doc in (("a", generate_keyset()), ("b", generate_keyset())):
        (tmp_path / name).mkdir()
        write_keyset(tmp_path / name / "keyset.json", doc)
    os.symlink("a", tmp_path / "..data")
    os.symlink("..data/keyset.json", tmp_path / "keyset.json")
    manager = KeyManager(tmp_path / "keyset.json")
    first = manager.signing_key().kid
    os.symlink("b", tmp_path / "..data_tmp")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    assert manager.signing_key().kid != first


def test_manager_without_a_file_is_not_ready(tmp_path):
    manager = KeyManager(tmp_path / "absent.json")
    assert not manager.ready()
    with pytest.raises(KeysetError, match="cannot read"):
        manager.signing_key()
