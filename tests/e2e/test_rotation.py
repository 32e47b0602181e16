"""Key rotation on running pods: the keyset reaches every pod through its Secret volume as the
kubelet projects it, and tokens signed before, during and after each activation verify on
every pod, with no rejected request under load across two activations."""

from __future__ import annotations

import secrets
import uuid

import httpx
import pytest
from e2e_support import E2E, Platform
from load import Load

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _pod_urls(e2e: E2E, platform: Platform) -> list[str]:
    pods = e2e.items("pods", "-n", platform.namespace, "-l", "app.kubernetes.io/component=api")
    return [f"http://{p['status']['podIP']}:8000" for p in pods
            if p["status"].get("podIP") and not p["metadata"].get("deletionTimestamp")]


def _every_pod_accepts(e2e: E2E, platform: Platform, tokens: list[str]) -> None:
    for url in _pod_urls(e2e, platform):
        with httpx.Client(base_url=url, timeout=10) as pod:
            for token in tokens:
                r = pod.get("/users/me", headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 200, f"{url} rejected a token: {r.status_code} {r.text}"


def test_tokens_verify_on_every_pod_across_two_activations(e2e: E2E, platform: Platform) -> None:
    user = {"email": f"rot-{uuid.uuid4().hex[:8]}@example.com", "password": secrets.token_urlsafe(18), "name": "Rot"}
    base = e2e.service_url(platform.namespace, platform.name)
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.post("/auth/register", json=user).status_code == 201

        def token() -> str:
            r = client.post("/auth/login", json={"email": user["email"], "password": user["password"]})
            assert r.status_code == 200, r.text
            return r.json()["access_token"]

        tokens = [token()]
        with Load(base, request=lambda c: c.get("/users/me", headers={"Authorization": f"Bearer {tokens[-1]}"})) as load:
            for round_ in (1, 2):
                first = e2e.get("storefront", platform.name, "-n", platform.namespace)["status"]["activeKid"]
                e2e.kubectl("annotate", "--overwrite", "storefront", platform.name, "-n", platform.namespace,
                            f"platform.storefront.dev/rotate-keys=e2e-{round_}-{uuid.uuid4().hex[:6]}")
                # Published: every pod must learn the pending key before it signs.
                e2e.wait_condition(platform.namespace, platform.name, "KeysReady", reason="Rotating", timeout=120)
                tokens.append(token())  # during: still signed by the old key
                _every_pod_accepts(e2e, platform, tokens)

                def activated(first=first):
                    kid = e2e.get("storefront", platform.name, "-n", platform.namespace)["status"]["activeKid"]
                    return kid if kid != first else None
                new_kid = e2e.wait(activated, f"activation {round_}", timeout=240, interval=2,
                                   namespace=platform.namespace)
                # After activation a pod signs with the new key once its volume has it.
                e2e.wait(lambda new_kid=new_kid: _kid(token()) == new_kid, "a token signed by the new key",
                         timeout=120, interval=2, namespace=platform.namespace)
                tokens.append(token())
                _every_pod_accepts(e2e, platform, tokens)
        assert load.ok > 0 and not load.failures, load.summary()
    # Each pod's mounted keyset is the Secret's, as the kubelet projected it.
    kids = {e["kid"] for e in httpx.get(f"{base}/.well-known/jwks.json", timeout=10).json()["keys"]}
    assert new_kid in kids


def _kid(token: str) -> str:
    import base64
    import json

    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
