"""The event queue on real pods: the operator's worker Deployment relays an order's event from
the outbox through the Redis cluster to a signed webhook POST at a receiver outside the cluster
(on the node's address), retried after the receiver's first failure."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from e2e_support import APP_IMAGE, E2E, Platform

from app.services.webhooks import verify

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass
class Receiver:
    """A webhook receiver as the docs ask one to be: verifies the signature, answers the first
    attempt of each event with 503 (to see the retry), then records it once per event id."""
    secret: str = ""
    attempts: list[dict] = field(default_factory=list)
    events: dict[str, dict] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        valid = verify(self.secret, headers.get("storefront-signature", ""), body, now=int(time.time()))
        event_id = headers.get("storefront-event-id", "")
        with self.lock:
            self.attempts.append({"event": event_id, "valid": valid, "attempt": headers.get("storefront-delivery-attempt")})
            if not valid:
                return 400
            if sum(1 for a in self.attempts if a["event"] == event_id) == 1:
                return 503
            self.events.setdefault(event_id, json.loads(body))
        return 204


@pytest.fixture
def receiver(e2e: E2E) -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(state.handle({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    # On the node's address: pods reach it through their bridge, nothing leaves the machine.
    server = ThreadingHTTPServer((e2e.cluster.network.node_ip, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://{e2e.cluster.network.node_ip}:{server.server_address[1]}/hooks/storefront"
    finally:
        server.shutdown()
        server.server_close()


def test_the_worker_runs_as_pods_of_the_migrated_image(e2e: E2E, platform: Platform) -> None:
    ns = platform.namespace
    pods = e2e.items("pods", "-n", ns, "-l", "app.kubernetes.io/component=worker")
    assert pods, "no worker pod"
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["containers"][0]["image"] == APP_IMAGE
        assert all(s["ready"] for s in pod["status"]["containerStatuses"]), pod["status"]
    sf = e2e.get("storefront", platform.name, "-n", ns)
    assert sf["status"]["worker"]["readyReplicas"] == len(pods)
    # Probed and scraped on its own port, from inside the pod (the image has no curl).
    metrics = e2e.kubectl("exec", "-n", ns, f"deploy/{platform.name}-worker", "--", "python", "-c",
                          "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8081/metrics').read().decode())")
    assert "storefront_queue_lag" in metrics.stdout


def test_an_order_reaches_a_webhook_receiver_signed_and_once(e2e: E2E, platform: Platform, receiver) -> None:
    state, url = receiver
    ns = platform.namespace
    email, password = f"admin-{uuid.uuid4().hex[:8]}@example.com", secrets.token_urlsafe(18)
    e2e.kubectl("exec", "-n", ns, f"deploy/{platform.name}", "-c", "api", "--", "python", "-m", "app.cli",
                "create-admin", "--email", email, f"--password={password}", "--name", "Admin")
    with e2e.client(ns, platform.name) as client:
        token = client.post("/auth/login", json={"email": email, "password": password}).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        hook = client.post("/webhooks", headers=admin, json={"url": url, "events": ["order.placed"],
                                                             "description": "e2e receiver"})
        assert hook.status_code == 201, hook.text
        state.secret = hook.json()["secret"]
        product = client.post("/products", headers=admin, json={"name": "Queued kale", "price": "3.00", "stock": 4})
        assert product.status_code == 201, product.text
        order = client.post("/orders", headers={**admin, "Idempotency-Key": uuid.uuid4().hex},
                            json={"items": [{"product_id": product.json()["id"], "quantity": 1}]})
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]

        def delivered():
            with state.lock:
                return next((e for e in state.events.values() if e["data"].get("order_id", e["data"].get("id")) == order_id), None)
        event = e2e.wait(delivered, "the order.placed webhook at the receiver", timeout=120, namespace=ns)
        assert event["type"] == "order.placed"
        with state.lock:
            tries = [a for a in state.attempts if a["event"] == event["id"]]
        assert all(a["valid"] for a in tries), tries
        assert len(tries) == 2, f"one refused attempt, then one delivery: {tries}"

        deliveries = e2e.wait(
            lambda: [d for d in client.get(f"/webhooks/{hook.json()['id']}/deliveries", headers=admin).json()["items"]
                     if d["event_id"] == event["id"] and d["status"] == "succeeded"],
            "the delivery log to show the success", timeout=30, namespace=ns)
        assert deliveries[0]["attempts"] == 2 and deliveries[0]["last_status_code"] == 204

    # The operator read the consumer group the workers created from the Redis cluster.
    def queue_seen():
        queue = (e2e.get("storefront", platform.name, "-n", ns) or {}).get("status", {}).get("queue") or {}
        return queue if queue.get("consumerGroup") and queue.get("consumers", 0) >= 1 else None
    queue = e2e.wait(queue_seen, "status.queue to show the workers' consumer group", timeout=90, namespace=ns)
    assert queue["deadLetters"] == 0 and queue["message"] == ""
