"""The node's image store (containerd's root, kept between nodes so an archive is imported once):
a store the last node left clean is reused as it is, one left unmarked by a killed run is
emptied before use, and the names looked up in it are the ones containerd gives imports."""

from __future__ import annotations

from types import SimpleNamespace

from storefront_harness.node import Node, _qualified


def test_a_clean_store_is_reused_and_marked_in_use_until_closed(tmp_path) -> None:
    node = SimpleNamespace(store=tmp_path / "store", _store_open=False)
    Node._open_store(node)
    blob = node.store / "root" / "io.containerd.content.v1.content" / "blob"
    blob.parent.mkdir(parents=True)
    blob.write_text("layer")
    cri = node.store / "root" / "io.containerd.grpc.v1.cri" / "sandboxes" / "x"
    cri.mkdir(parents=True)
    assert not (node.store / "clean").exists(), "in use: a killed run must leave it unmarked"
    Node._close_store(node)
    assert (node.store / "clean").exists() and not cri.exists()
    Node._open_store(node)
    assert blob.read_text() == "layer"
    assert not (node.store / "clean").exists()


def test_a_store_a_killed_run_left_is_emptied(tmp_path) -> None:
    node = SimpleNamespace(store=tmp_path / "store", _store_open=False)
    Node._open_store(node)
    (node.store / "imported").write_text("node-images-abc.tar\n")
    (node.store / "root" / "leftover").write_text("a container of a run killed outright")
    Node._open_store(node)  # never closed: the store is not trusted
    assert not (node.store / "root" / "leftover").exists()
    assert not (node.store / "imported").exists()
    assert (node.store / "root").is_dir()


def test_imported_names_are_qualified_like_containerd_does() -> None:
    assert _qualified("storefront-app:local") == "docker.io/library/storefront-app:local"
    assert _qualified("team/app:1") == "docker.io/team/app:1"
