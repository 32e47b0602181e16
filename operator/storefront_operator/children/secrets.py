"""Secrets the operator generates: the JWT keyset and the app's data-protection keys."""

from __future__ import annotations

import base64
import os
from typing import Any

from ..keys import KEYSET_FILE, keyset_secret_name
from ..model import Storefront
from .meta import app_secrets_name, metadata

ROTATION_REQUEST_ANNOTATION = "platform.storefront.dev/handled-rotation-request"


def keyset_secret(sf: Storefront, keyset_json: str, handled_request: str | None) -> dict[str, Any]:
    annotations = {ROTATION_REQUEST_ANNOTATION: handled_request} if handled_request else {}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": metadata(sf, keyset_secret_name(sf.name), component="jwt-keys", annotations=annotations),
            # data, not stringData: server-side apply then owns exactly the field it sets.
            "data": {KEYSET_FILE: base64.b64encode(keyset_json.encode()).decode()}}


def app_secrets(sf: Storefront) -> dict[str, Any]:
    """Created once, never overwritten or rotated, and deliberately not owned by the Storefront:
    deleting and re-creating a Storefront must not make the encrypted PII unreadable."""
    key = lambda: base64.b64encode(os.urandom(32)).decode()  # noqa: E731
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": metadata(sf, app_secrets_name(sf), component="app-secrets", owned=False),
            "stringData": {"pii-encryption-key": key(), "blind-index-key": key()}}
