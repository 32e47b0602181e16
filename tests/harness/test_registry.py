"""The loopback registry: an image pushed over the distribution API (blob, config, manifest) is
listed and served back by digest; the registry's files go with it."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import pytest

from storefront_harness.errors import ComponentError
from storefront_harness.registry import Registry


def _request(method: str, url: str, data: bytes = b"", content_type: str = "application/octet-stream"):
    req = urllib.request.Request(url, data=data or None, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, dict(r.headers), r.read()


def _push_blob(base: str, repo: str, blob: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    status, headers, _ = _request("POST", f"{base}/v2/{repo}/blobs/uploads/")
    assert status == 202
    location = headers["Location"]
    location = location if location.startswith("http") else base + location
    sep = "&" if "?" in location else "?"
    status, _, _ = _request("PUT", f"{location}{sep}digest={digest}", blob)
    assert status == 201
    return digest


def test_an_image_pushed_is_listed_and_served_by_digest(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry").start()
    try:
        base = f"http://{registry.address}"
        layer = b"a layer's bytes"
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer_digest = _push_blob(base, "storefront-app", layer)
        config_digest = _push_blob(base, "storefront-app", config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer)}],
        }).encode()
        status, headers, _ = _request("PUT", f"{base}/v2/storefront-app/manifests/dev", manifest,
                                      "application/vnd.oci.image.manifest.v1+json")
        assert status == 201
        assert headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()

        assert registry.repositories() == ["storefront-app"]
        assert registry.tags("storefront-app") == ["dev"]
        assert _request("GET", f"{base}/v2/storefront-app/blobs/{layer_digest}")[2] == layer
    finally:
        registry.destroy()
    assert not (tmp_path / "registry").exists()


def test_a_taken_port_is_refused_with_the_reason(tmp_path: Path) -> None:
    first = Registry(tmp_path / "a").start()
    try:
        with pytest.raises(ComponentError, match="already in use"):
            Registry(tmp_path / "b", port=first.port).start()
    finally:
        first.destroy()
