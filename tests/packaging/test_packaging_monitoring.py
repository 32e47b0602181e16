"""The charts' dashboards, alerts and scrape configuration, checked with the real promtool:
every alert rule passes ``promtool check rules`` and has ``promtool test rules`` cases that fire
and that stay silent, every dashboard query parses as PromQL, and dashboards and alerts name
only metrics the code exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging_support import OPERATOR_CHART, PLATFORM_CHART, REPO, by_kind, one, render, template

from storefront_harness.tools import tool

pytestmark = pytest.mark.tools("promtool")

ALERT_TESTS = REPO / "tests" / "packaging" / "alerts"
RULE_FILES = sorted([*PLATFORM_CHART.glob("files/alerts/*.rules.yaml"), *OPERATOR_CHART.glob("files/alerts/*.rules.yaml")])
DASHBOARDS = sorted([*PLATFORM_CHART.glob("files/dashboards/*.json"), *OPERATOR_CHART.glob("files/dashboards/*.json")])
MONITORING_APIS = ("--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
                   "--api-versions", "monitoring.coreos.com/v1/PodMonitor")
# Grafana's variables, replaced by what Grafana would put there before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "shop"}
# Names PromQL itself knows and the code does not export.
PROMQL_WORDS = {"time", "up"}


def promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def _alerts(path: Path) -> list[dict]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def _dashboard_exprs(path: Path) -> list[tuple[str, str]]:
    dashboard = json.loads(path.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _exported_metrics() -> set[str]:
    """Every series name the app, worker and operator expose, from their prometheus_client definitions."""
    names: set[str] = set()
    pattern = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
    for source in [*(REPO / "app").rglob("*.py"), *(REPO / "operator").rglob("*.py")]:
        for kind, name in pattern.findall(source.read_text()):
            if kind == "Counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
            elif kind in ("Histogram", "Summary"):
                names |= {f"{name}_count", f"{name}_sum"} | ({f"{name}_bucket"} if kind == "Histogram" else set())
            else:
                names.add(name)
    return names


def _metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that name series (not functions, keywords or labels)."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_matchers = re.sub(r"\{[^}]*\}", "{}", without_strings)
    without_grouping = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_matchers)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_grouping)
    names = set()
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", without_ranges):
        word, call = match.group(1), match.group(2)
        if call or word in {"and", "or", "unless", "bool", "offset", "le", "inf", "nan"} or re.fullmatch(r"\d.*", word):
            continue
        names.add(word)
    return names


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
def test_alert_rules_pass_promtool_check(rules):
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_cases_that_fire_and_cases_that_stay_silent():
    fires: set[str] = set()
    silent: set[str] = set()
    tested_files = set()
    for test_file in ALERT_TESTS.glob("*.test.yaml"):
        doc = yaml.safe_load(test_file.read_text())
        tested_files |= {(test_file.parent / f).resolve() for f in doc["rule_files"]}
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    assert {p.resolve() for p in RULE_FILES} <= tested_files
    alerts = {rule["alert"] for path in RULE_FILES for rule in _alerts(path)}
    assert alerts - fires == set(), "alerts without a case where they fire"
    assert alerts - silent == set(), "alerts without a case where they stay silent"


def test_alert_unit_tests_pass():
    files = sorted(str(p) for p in ALERT_TESTS.glob("*.test.yaml"))
    result = promtool("test", "rules", *files)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def test_every_alert_says_what_and_where_to_read_on():
    runbooks = (REPO / "docs" / "runbooks.md").read_text()
    anchors = {heading.strip().lower() for heading in re.findall(r"^## (.+)$", runbooks, re.MULTILINE)}
    for path in RULE_FILES:
        for rule in _alerts(path):
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"] and len(rule["annotations"]["description"]) > 80, rule["alert"]
            assert rule["alert"].lower() in anchors, f"docs/runbooks.md has no section ## {rule['alert']}"


def test_every_dashboard_query_parses_as_promql(tmp_path):
    """Each panel's query, with Grafana's variables filled in, as a recording rule promtool parses."""
    rules = []
    for path in DASHBOARDS:
        for i, (title, expr) in enumerate(_dashboard_exprs(path)):
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{path.name} {title}: unknown variable in {expr}"
            rules.append({"record": f"dashboard:{path.stem.replace('-', '_')}:{i}", "expr": expr})
    assert len(rules) > 30
    file = tmp_path / "dashboards.rules.yaml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = promtool("check", "rules", str(file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout, result.stdout


def test_dashboards_and_alerts_name_only_metrics_the_code_exports():
    exported = _exported_metrics()
    assert {"storefront_http_requests_total", "storefront_http_request_duration_seconds_bucket",
            "storefront_operator_storefronts_ready"} <= exported
    used: dict[str, set[str]] = {}
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        queries = [expr for _, expr in _dashboard_exprs(path)]
        queries += [v["definition"].removeprefix("label_values(").split(",")[0]
                    for v in dashboard["templating"]["list"] if v["type"] == "query"]
        for query in queries:
            used.setdefault(path.name, set()).update(_metric_names(query))
    for path in RULE_FILES:
        for rule in _alerts(path):
            used.setdefault(path.name, set()).update(_metric_names(rule["expr"]))
    unknown = {name: sorted(names - exported - PROMQL_WORDS) for name, names in used.items()}
    assert unknown == {name: [] for name in used}


def test_dashboards_are_grafana_json_with_unique_ids():
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids and len(dashboard["uid"]) <= 40
        uids.add(dashboard["uid"])
        assert dashboard["title"].startswith("Storefront / ") and dashboard["panels"]
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert set(panel["gridPos"]) == {"x", "y", "w", "h"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def test_dashboards_ship_as_configmaps_for_the_grafana_sidecar():
    for chart, files in ((PLATFORM_CHART, PLATFORM_CHART.glob("files/dashboards/*.json")),
                         (OPERATOR_CHART, OPERATOR_CHART.glob("files/dashboards/*.json"))):
        maps = {next(iter(m["data"])): m for m in by_kind(render(chart, "sf", "shop"), "ConfigMap")
                if m["metadata"]["labels"].get("grafana_dashboard") == "1"}
        assert set(maps) == {p.name for p in files}, chart.name
        for name, config_map in maps.items():
            assert json.loads(config_map["data"][name]) == json.loads((chart / "files" / "dashboards" / name).read_text())
        assert not [m for m in by_kind(render(chart, "sf", "shop", "--set", "monitoring.dashboards.enabled=false"),
                                       "ConfigMap") if "grafana_dashboard" in m["metadata"]["labels"]]


@pytest.mark.parametrize("chart", [PLATFORM_CHART, OPERATOR_CHART], ids=["platform", "operator"])
def test_prometheus_rule_carries_every_alert_with_its_runbook(chart):
    assert not by_kind(render(chart, "sf", "shop"), "PrometheusRule"), "only when the CRD is installed"
    rule = one(render(chart, "sf", "shop", *MONITORING_APIS, "--set", "monitoring.runbookBaseUrl=https://runbooks.example/sf"),
               "PrometheusRule")
    rendered = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    expected = {r["alert"]: r for path in chart.glob("files/alerts/*.rules.yaml") for r in _alerts(path)}
    assert set(rendered) == set(expected)
    for name, r in rendered.items():
        assert r["annotations"].pop("runbook_url") == f"https://runbooks.example/sf#{name.lower()}"
        assert r == expected[name]
    assert not by_kind(render(chart, "sf", "shop", *MONITORING_APIS, "--set", "monitoring.prometheusRule.enabled=false"),
                       "PrometheusRule")


def test_pod_monitors_select_the_pods_the_operator_labels():
    from storefront_operator.children.meta import labels
    from storefront_operator.model import Storefront

    docs = render(PLATFORM_CHART, "sf", "shop", *MONITORING_APIS)
    storefront = Storefront.from_body({**one(docs, "Storefront"), "metadata": {
        **one(docs, "Storefront")["metadata"], "uid": "u"}})
    monitors = {m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]: m for m in by_kind(docs, "PodMonitor")}
    assert set(monitors) == {"api", "worker"}
    for component, monitor in monitors.items():
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels(storefront, component).items()
        assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s",
                                                           "scrapeTimeout": "10s"}]
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["shop"]}
    only_api = render(PLATFORM_CHART, "sf", "shop", *MONITORING_APIS, "--set", "monitoring.podMonitor.worker.enabled=false")
    assert [m["metadata"]["name"] for m in by_kind(only_api, "PodMonitor")] == ["sf-storefront-api"]
    assert not by_kind(render(PLATFORM_CHART, "sf", "shop"), "PodMonitor"), "only when the CRD is installed"


def test_observability_values_reach_the_storefront_and_the_pods_settings():
    from storefront_operator.children.config import app_config_data
    from storefront_operator.model import Storefront

    docs = render(PLATFORM_CHART, "sf", "shop", "--set", "observability.otlpEndpoint=http://otel.obs:4318",
                  "--set", "observability.samplingRatio=0.1")
    body = one(docs, "Storefront")
    assert body["spec"]["observability"] == {"otlpEndpoint": "http://otel.obs:4318", "samplingRatio": 0.1}
    data = app_config_data(Storefront.from_body({**body, "metadata": {**body["metadata"], "uid": "u"}}), "1")
    assert data["STOREFRONT_OTLP_ENDPOINT"] == "http://otel.obs:4318"
    assert data["STOREFRONT_TRACE_SAMPLING_RATIO"] == "0.1"
    assert "observability" not in one(render(PLATFORM_CHART, "sf", "shop"), "Storefront")["spec"]


def test_operator_tracing_values_are_settings_the_operator_reads(monkeypatch):
    from storefront_operator.settings import Settings

    container = one(render(OPERATOR_CHART, "op", "ops", "--set", "tracing.otlpEndpoint=http://otel.obs:4318",
                           "--set", "tracing.samplingRatio=0.5"), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    for entry in container["env"]:
        if entry["name"].startswith("STOREFRONT_OPERATOR_"):
            monkeypatch.setenv(entry["name"], entry["value"])
    settings = Settings.from_env()
    assert (settings.otlp_endpoint, settings.trace_sampling_ratio) == ("http://otel.obs:4318", 0.5)
    default = one(render(OPERATOR_CHART, "op", "ops"), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert not [e for e in default["env"] if "OTLP" in e["name"]]


@pytest.mark.parametrize("chart, values, message", [
    (PLATFORM_CHART, ("--set", "observability.otlpEndpoint=collector:4318"), "at '/observability/otlpEndpoint'"),
    (PLATFORM_CHART, ("--set", "observability.samplingRatio=2"), "at '/observability/samplingRatio'"),
    (PLATFORM_CHART, ("--set", "monitoring.podMonitor.interval=often"), "at '/monitoring/podMonitor/interval'"),
    (PLATFORM_CHART, ("--set", "monitoring.dashboards.enabled=yes"), "at '/monitoring/dashboards/enabled'"),
    (OPERATOR_CHART, ("--set", "tracing.samplingRatio=1.5"), "at '/tracing/samplingRatio'"),
    (OPERATOR_CHART, ("--set", "monitoring.prometheusRule.labels.release=1"), "at '/monitoring/prometheusRule/labels/release'"),
], ids=lambda v: " ".join(v[1:]) if isinstance(v, tuple) else getattr(v, "name", str(v)))
def test_bad_monitoring_values_are_refused(chart, values, message):
    result = template(chart, "sf", "shop", *values, check=False)
    assert result.returncode != 0, result.stdout[:300]
    assert message in result.stderr, result.stderr
