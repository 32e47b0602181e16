"""Tracing settings from ``spec.observability`` reach the pods; the operator traces each
reconcile (the Storefront as attributes) to a real OTLP/HTTP receiver, and its log lines inside
a reconcile carry the trace id."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from prometheus_client import REGISTRY
from pythonjsonlogger.json import JsonFormatter
from sfop_support import create_storefront, storefront_body

from storefront_harness.otlp import OtlpReceiver
from storefront_operator import tracing
from storefront_operator.children import desired_children
from storefront_operator.children.config import app_config_data
from storefront_operator.model import SpecError, Storefront
from storefront_operator.reconcile import reconcile
from storefront_operator.settings import Settings

ENDPOINT = "http://otel-collector.observability:4318"


def _sf(**spec) -> Storefront:
    body = storefront_body("shop", **spec)
    body["metadata"].update(namespace="ns", uid="uid-1", generation=3)
    return Storefront.from_body(body)


def _config_hash(sf: Storefront) -> str:
    deployment = next(c for c in desired_children(sf, "img:1", "1", []) if c["kind"] == "Deployment")
    return deployment["spec"]["template"]["metadata"]["annotations"]["platform.storefront.dev/config-hash"]


def test_no_observability_spec_leaves_tracing_off_in_the_pods():
    data = app_config_data(_sf(), "1")
    assert not [k for k in data if "OTLP" in k or "TRACE" in k]


def test_otlp_settings_go_to_every_pod_reading_the_app_config():
    sf = _sf(observability={"otlpEndpoint": ENDPOINT, "samplingRatio": 0.05})
    data = app_config_data(sf, "1")
    assert data["STOREFRONT_OTLP_ENDPOINT"] == ENDPOINT
    assert data["STOREFRONT_TRACE_SAMPLING_RATIO"] == "0.05"
    # The Deployment reads that ConfigMap, and a change of either value rolls its pods.
    deployment = next(c for c in desired_children(sf, "img:1", "1", []) if c["kind"] == "Deployment")
    env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"configMapRef": {"name": "shop-config"}} in env_from
    assert _config_hash(sf) != _config_hash(_sf())
    assert _config_hash(sf) != _config_hash(_sf(observability={"otlpEndpoint": ENDPOINT, "samplingRatio": 0.5}))


def test_endpoint_without_ratio_leaves_the_apps_default():
    data = app_config_data(_sf(observability={"otlpEndpoint": ENDPOINT}), "1")
    assert data["STOREFRONT_OTLP_ENDPOINT"] == ENDPOINT and "STOREFRONT_TRACE_SAMPLING_RATIO" not in data


def test_a_ratio_out_of_range_is_a_spec_error():
    with pytest.raises(SpecError) as caught:
        _sf(observability={"otlpEndpoint": ENDPOINT, "samplingRatio": 1.5})
    assert caught.value.reason == "InvalidSamplingRatio"


@pytest.mark.kube
def test_each_reconcile_is_a_trace_with_the_storefront_as_attributes(kube, namespace):
    create_storefront(kube, namespace, observability={"otlpEndpoint": ENDPOINT})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("{levelname}{name}{message}", style="{"))
    handler.addFilter(tracing.TraceIdFilter())
    logger = logging.getLogger("storefront_operator")
    logger.addHandler(handler)
    # setLevel, not an assignment: it also clears the loggers' cached "is INFO enabled?" answers,
    # which an earlier test in the same process may have left saying no.
    level = logger.level
    logger.setLevel(logging.INFO)
    with OtlpReceiver() as receiver:
        settings = Settings(resync_seconds=2, otlp_endpoint=receiver.endpoint)
        assert tracing.start(settings)
        try:
            reconcile(kube, namespace, "shop", settings)
            with tracing.span("outside a reconcile"):
                pass
        finally:
            tracing.stop()
            logger.removeHandler(handler)
            logger.setLevel(level)
        spans = receiver.wait_for(lambda s: any(x.name == "reconcile Storefront" for x in s))
    root = next(s for s in spans if s.name == "reconcile Storefront")
    assert root.resource["service.name"] == "storefront-operator"
    assert root.attributes["k8s.namespace.name"] == namespace and root.attributes["storefront.name"] == "shop"
    assert root.attributes["storefront.generation"] == 1 and root.attributes["storefront.version"] == "1.0.0"
    assert root.attributes["storefront.result"] == "not_ready"  # nothing migrated or running yet
    steps = {s.name for s in spans if s.trace_id == root.trace_id and s.parent_span_id == root.span_id}
    assert {"reconcile step keys", "reconcile step redis", "reconcile step migrations", "reconcile step apply"} <= steps
    # The new key's replacement is due a rotation interval (720h by default) after it signs.
    due = REGISTRY.get_sample_value("storefront_operator_key_rotation_due_timestamp_seconds",
                                    {"namespace": namespace, "name": "shop"})
    assert due is not None and abs(due - (time.time() + 720 * 3600)) < 600
    condition = {"namespace": namespace, "name": "shop"}
    assert REGISTRY.get_sample_value("storefront_operator_storefront_condition", {**condition, "condition": "KeysReady"}) == 1
    assert REGISTRY.get_sample_value("storefront_operator_storefront_condition", {**condition, "condition": "Ready"}) == 0
    # The first reconcile creates the key and writes the status, and logs both with the trace id.
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    traced = [line for line in lines if line.get("trace_id")]
    assert traced, lines
    assert {line["trace_id"] for line in traced} == {root.trace_id}


def test_operator_tracing_is_off_without_an_endpoint():
    assert tracing.start(Settings()) is False
    assert tracing._tracer is None
    with tracing.span("nothing") as nothing:
        assert nothing is None
