"""One order in a real trace backend: Jaeger's all-in-one (OTLP receivers, in-memory storage,
query API, on loopback) receives the spans of the API and the worker, run as processes, and
its query API shows the order as one trace: the request span, its database and Redis spans
under it, and the worker's handling and webhook delivery in the same trace."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from stack_support import Stack, WebhookReceiver

from storefront_harness.polling import wait_for
from storefront_harness.process import free_port, spawn, stop
from storefront_harness.tools import tool

pytestmark = [pytest.mark.slow, pytest.mark.tools("jaeger")]


class Jaeger:
    """``cmd/jaeger`` with only what the test needs, every port a free one on loopback."""

    def __init__(self, workdir: Path):
        self.otlp_grpc, self.otlp_http, self.query_http, self.query_grpc, self.health = (free_port() for _ in range(5))
        config = {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                         "exporters": ["jaeger_storage_exporter"]}},
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
            },
            "extensions": {
                "jaeger_storage": {"backends": {"memory_store": {"memory": {"max_traces": 10000}}}},
                "jaeger_query": {"storage": {"traces": "memory_store"},
                                 "http": {"endpoint": f"127.0.0.1:{self.query_http}"},
                                 "grpc": {"endpoint": f"127.0.0.1:{self.query_grpc}"}},
                "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"127.0.0.1:{self.health}"}},
            },
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{self.otlp_grpc}"},
                                                 "http": {"endpoint": f"127.0.0.1:{self.otlp_http}"}}}},
            "processors": {"batch": {"timeout": "200ms"}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memory_store"}},
        }
        (workdir / "jaeger.yaml").write_text(yaml.safe_dump(config))
        self.log = workdir / "jaeger.log"
        self.proc = spawn([tool("jaeger"), f"--config=file:{workdir / 'jaeger.yaml'}"], self.log)

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http}"

    @property
    def query(self) -> str:
        return f"http://127.0.0.1:{self.query_http}"

    def tail(self) -> str:
        return "--- jaeger.log\n" + self.log.read_text(errors="replace")[-4000:]

    def exited(self) -> str | None:
        return f"jaeger exited with {self.proc.returncode}:\n{self.tail()}" if self.proc.poll() is not None else None

    def traces(self, service: str, operation: str) -> list[dict]:
        r = httpx.get(f"{self.query}/api/traces", params={"service": service, "operation": operation, "limit": "20"},
                      timeout=10)
        assert r.status_code == 200, r.text[:500]
        return r.json()["data"] or []

    def trace(self, trace_id: str) -> dict | None:
        r = httpx.get(f"{self.query}/api/traces/{trace_id}", timeout=10)
        return r.json()["data"][0] if r.status_code == 200 and r.json().get("data") else None


def _parent(span: dict) -> str | None:
    return next((ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"), None)


def _tags(span: dict) -> dict:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def test_one_order_is_one_trace_in_jaeger(database_factory, redis_server, tmp_path):
    jaeger = Jaeger(tmp_path)
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{jaeger.health}/status", timeout=2).status_code == 200, 60,
                 message="Jaeger healthy", diagnostics=jaeger.tail, give_up=jaeger.exited)
        with WebhookReceiver() as receiver, Stack(database_factory(), redis_server.url, tmp_path,
                                                  STOREFRONT_OTLP_ENDPOINT=jaeger.otlp_endpoint,
                                                  STOREFRONT_TRACE_SAMPLING_RATIO="1.0") as stack:
            product, _, customer = stack.shop_with_webhook(receiver, "Traced", "2.00", 3)
            stack.place_order(product, customer)
            wait_for(lambda: receiver.received, 60, message="the webhook delivery", diagnostics=stack.logs)
            sent_trace_id = receiver.received[0]["traceparent"].split("-")[1]

            def whole_trace() -> dict | None:
                found = jaeger.traces("storefront-api", "POST /orders")
                if len(found) != 1:
                    return None
                trace = found[0]
                names = {s["operationName"] for s in trace["spans"]}
                return trace if {"webhook.deliver", "event.handle"} <= names else None

            trace = wait_for(whole_trace, 60, interval=0.5, message="the order's trace with the worker's spans",
                             diagnostics=lambda: jaeger.tail() + "\n" + stack.logs(), give_up=jaeger.exited)
    finally:
        stop(jaeger.proc)

    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    print(f"trace {trace['traceID']}: {len(trace['spans'])} spans, by service "
          f"{sorted((name, sum(services[s['processID']] == name for s in trace['spans'])) for name in set(services.values()))}")
    assert set(services.values()) == {"storefront-api", "storefront-worker"}
    spans = {s["spanID"]: s for s in trace["spans"]}
    assert trace["traceID"] == sent_trace_id  # the webhook's traceparent named this trace too

    def ancestors(span: dict) -> list[str]:
        chain = []
        while (parent := _parent(span)) in spans:
            chain.append(parent)
            span = spans[parent]
        return chain

    [request] = [s for s in spans.values() if s["operationName"] == "POST /orders"
                 and services[s["processID"]] == "storefront-api" and _tags(s).get("span.kind") == "server"]
    assert _parent(request) is None  # the root: no caller's traceparent
    below = [s for s in spans.values() if request["spanID"] in ancestors(s)]
    assert len(below) == len(spans) - 1, "every other span of the trace descends from the request"

    api_db = [s for s in below if services[s["processID"]] == "storefront-api" and _tags(s).get("db.system") == "postgresql"]
    assert any(_tags(s).get("db.statement", "").lstrip().upper().startswith("INSERT INTO ORDERS") for s in api_db)
    assert [s for s in below if services[s["processID"]] == "storefront-api" and _tags(s).get("db.system") == "redis"]

    worker = [s for s in below if services[s["processID"]] == "storefront-worker"]
    delivery = next(s for s in worker if s["operationName"] == "webhook.deliver")
    assert _parent(delivery) == request["spanID"]
    assert _tags(delivery)["storefront.event.type"] == "order.placed"
    handled = next(s for s in worker if s["operationName"] == "event.handle")
    assert _parent(handled) == request["spanID"] and _tags(handled).get("span.kind") == "consumer"
    # The worker's own database and Redis work for the event sits under its spans, and its
    # outbound POST under the delivery.
    assert [s for s in worker if _tags(s).get("db.system") == "postgresql" and handled["spanID"] in ancestors(s)]
    assert [s for s in worker if _tags(s).get("db.system") == "redis" and handled["spanID"] in ancestors(s)]
    assert [s for s in worker if _parent(s) == delivery["spanID"] and s["operationName"] == "POST"]
