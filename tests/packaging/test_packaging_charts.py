"""The charts lint clean, render what they promise, and refuse bad values clearly."""

from __future__ import annotations

import base64
import re

import pytest
import yaml
from packaging_support import (
    CRD_DIR,
    INGRESS_CHART,
    LOCAL_VALUES,
    OPERATOR_CHART,
    PLATFORM_CHART,
    PRODUCTION_VALUES,
    REPO,
    by_kind,
    helm,
    one,
    pod_specs,
    render,
    template,
)

STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                   "app.kubernetes.io/managed-by", "helm.sh/chart")


@pytest.mark.parametrize("chart, extra", [
    (OPERATOR_CHART, ()),
    (OPERATOR_CHART, ("--set", "replicaCount=2", "--set", "watchNamespaces={shop,shop-eu}")),
    (PLATFORM_CHART, ()),
    (PLATFORM_CHART, ("-f", str(PRODUCTION_VALUES))),
    (PLATFORM_CHART, ("-f", str(LOCAL_VALUES))),
    (INGRESS_CHART, ()),
    (INGRESS_CHART, ("--set", "watchNamespaces={shop,shop-eu}", "--set", "service.nodePort=30080")),
], ids=["operator", "operator-namespaced", "platform", "platform-production", "platform-local", "ingress",
        "ingress-namespaced"])
def test_helm_lint_is_clean(chart, extra) -> None:
    result = helm("lint", "--strict", str(chart), *extra, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("chart, extra", [
    (OPERATOR_CHART, ()),
    (PLATFORM_CHART, ()),
    (PLATFORM_CHART, ("-f", str(PRODUCTION_VALUES))),
    (PLATFORM_CHART, ("-f", str(LOCAL_VALUES))),
    (INGRESS_CHART, ()),
], ids=["operator", "platform", "platform-production", "platform-local", "ingress"])
def test_every_object_has_standard_labels_and_a_namespace(chart, extra) -> None:
    for doc in render(chart, "sf", "shop", *extra):
        labels = doc["metadata"].get("labels", {})
        missing = [label for label in STANDARD_LABELS if label not in labels]
        assert not missing, f"{doc['kind']}/{doc['metadata']['name']} lacks {missing}"
        if doc["kind"] not in ("ClusterKopfPeering", "ClusterRole", "ClusterRoleBinding", "IngressClass"):
            assert doc["metadata"].get("namespace") == "shop", f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("chart, extra", [
    (OPERATOR_CHART, ()),
    (PLATFORM_CHART, ()),
    (PLATFORM_CHART, ("-f", str(PRODUCTION_VALUES))),
    (PLATFORM_CHART, ("-f", str(LOCAL_VALUES))),
    (INGRESS_CHART, ()),
], ids=["operator", "platform", "platform-production", "platform-local", "ingress"])
def test_every_pod_is_restricted_non_root_and_bounded(chart, extra) -> None:
    specs = pod_specs(render(chart, "sf", "shop", *extra))
    assert specs
    for where, spec in specs:
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, where
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert not sc["capabilities"].get("add"), where
            assert (sc.get("runAsUser") or pod_sc.get("runAsUser")) == 10001, where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert ":latest" not in container["image"], where
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, where


def test_operator_deployment_runs_with_probes_metrics_and_peering() -> None:
    docs = render(OPERATOR_CHART, "storefront-operator", "storefront-system",
                  "--set", "replicaCount=2", "--set", "image.tag=1.2.3")
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]
    container = pod["containers"][0]
    assert container["image"] == "storefront-operator:1.2.3"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9090, "health": 8080}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["STOREFRONT_OPERATOR_NAMESPACES"] == ""
    assert env["STOREFRONT_OPERATOR_METRICS_PORT"] == "9090"
    assert env["STOREFRONT_OPERATOR_LIVENESS_ENDPOINT"] == "http://0.0.0.0:8080/healthz"
    # Two replicas are only safe with peering: the cluster-wide peering object is there.
    peering = one(docs, "ClusterKopfPeering")
    assert env["STOREFRONT_OPERATOR_PEERING_NAME"] == peering["metadata"]["name"]
    service = one(docs, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    # A drain keeps one of the two replicas; a single replica gets no budget that would block it.
    budget = one(docs, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert not by_kind(render(OPERATOR_CHART, "op", "ops"), "PodDisruptionBudget")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_operator_settings_module_reads_what_the_chart_sets(monkeypatch) -> None:
    """Every STOREFRONT_OPERATOR_* variable the chart sets is one the operator reads."""
    from storefront_operator.settings import Settings

    container = one(render(OPERATOR_CHART, "op", "ops", "--set", "watchNamespaces={a,b}"),
                    "Deployment")["spec"]["template"]["spec"]["containers"][0]
    for entry in container["env"]:
        if entry["name"].startswith("STOREFRONT_OPERATOR_"):
            monkeypatch.setenv(entry["name"], entry["value"])
    settings = Settings.from_env()
    assert settings.namespaces == ["a", "b"]
    assert settings.metrics_port == 9090
    assert settings.peering_name == "storefront-operator"
    assert settings.liveness_endpoint.endswith(":8080/healthz")


def test_operator_watching_namespaces_peers_in_each() -> None:
    docs = render(OPERATOR_CHART, "op", "ops", "--set", "watchNamespaces={shop,shop-eu}")
    assert not by_kind(docs, "ClusterKopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in by_kind(docs, "KopfPeering")) == ["shop", "shop-eu"]


def test_servicemonitor_only_when_enabled_and_its_api_exists() -> None:
    enabled = ("--set", "serviceMonitor.enabled=true")
    assert not by_kind(render(OPERATOR_CHART, "op", "ops", *enabled), "ServiceMonitor")
    assert not by_kind(render(OPERATOR_CHART, "op", "ops", "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"),
                       "ServiceMonitor")
    monitor = one(render(OPERATOR_CHART, "op", "ops", *enabled,
                         "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def _secret_value(secret: dict, key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def test_platform_development_render_wires_the_storefront_to_its_datastores() -> None:
    docs = render(PLATFORM_CHART, "storefront", "shop", "--set", "image.tag=2.0.0")
    sf = one(docs, "Storefront")
    assert sf["apiVersion"] == "platform.storefront.dev/v1alpha1"
    assert sf["metadata"]["name"] == "storefront"
    spec = sf["spec"]
    assert spec["image"] == "storefront-app:2.0.0"

    # Database: the generated Secret, whose url reaches the PostgreSQL Service.
    db_secret = one(docs, "Secret", spec["database"]["secretRef"]["name"])
    assert db_secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    password = _secret_value(db_secret, "password")
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password)
    pg_service = one(docs, "Service", "storefront-postgresql")
    assert _secret_value(db_secret, spec["database"]["secretRef"]["key"]) == (
        f"postgresql+asyncpg://storefront:{password}@storefront-postgresql.shop.svc:5432/storefront")
    postgres = one(docs, "StatefulSet", "storefront-postgresql")
    assert pg_service["spec"]["selector"].items() <= postgres["spec"]["template"]["metadata"]["labels"].items()
    assert postgres["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    pg_env = {e["name"]: e.get("value") for e in postgres["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "POSTGRES_PASSWORD" not in pg_env and pg_env["POSTGRES_PASSWORD_FILE"].endswith("/password")

    # Redis: three cluster-mode nodes behind the headless Service the Storefront names.
    assert spec["redis"]["mode"] == "cluster"
    headless = one(docs, "Service", spec["redis"]["nodes"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    redis = one(docs, "StatefulSet", "storefront-redis")
    assert redis["spec"]["replicas"] == 3
    assert redis["spec"]["serviceName"] == headless["metadata"]["name"]
    assert "--cluster-enabled yes" in redis["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    redis_secret = one(docs, "Secret", spec["redis"]["secretRef"]["name"])
    assert re.fullmatch(r"[A-Za-z0-9]{32}", _secret_value(redis_secret, "password"))

    assert spec["ingress"] == {"host": "storefront.localhost", "className": "traefik"}
    assert {p["metadata"]["name"] for p in by_kind(docs, "NetworkPolicy")} == {
        "storefront-postgresql", "storefront-redis", "storefront-test"}


def test_platform_render_is_understood_by_the_operator() -> None:
    """The operator's own parser accepts the rendered Storefront, and the helm test calls the
    Service the operator will create, on its port."""
    from storefront_operator.children import meta, network
    from storefront_operator.model import Storefront

    for extra in ((), ("-f", str(PRODUCTION_VALUES))):
        docs = render(PLATFORM_CHART, "storefront", "shop", *extra)
        body = one(docs, "Storefront")
        body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
        sf = Storefront.from_body(body)
        service = network.service(sf)
        url = next(e["value"] for e in one(docs, "Pod")["spec"]["containers"][0]["env"] if e["name"] == "READY_URL")
        port = service["spec"]["ports"][0]["port"]
        host = f"{service['metadata']['name']}.shop.svc"
        assert url == (f"http://{host}/ready" if port == 80 else f"http://{host}:{port}/ready")

        # No pod of the chart falls under the selector of the operator's API pods.
        selector = meta.selector_labels(sf).items()
        for where, _ in pod_specs(docs):
            kind, name = where.split("/")
            doc = one(docs, kind, name)
            labels = (doc["metadata"] if kind == "Pod" else doc["spec"]["template"]["metadata"])["labels"]
            assert not selector <= labels.items(), f"{where} would be selected as an API pod"


def test_platform_production_render_has_no_datastores() -> None:
    docs = render(PLATFORM_CHART, "storefront", "shop", "-f", str(PRODUCTION_VALUES))
    dashboards = [d for d in docs if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]]
    assert sorted(d["kind"] for d in docs if d not in dashboards) == ["NetworkPolicy", "Pod", "Storefront"]
    spec = one(docs, "Storefront")["spec"]
    values = yaml.safe_load(PRODUCTION_VALUES.read_text())
    assert spec["image"] == f"{values['image']['repository']}:{values['image']['tag']}"
    assert spec["autoscaling"] == {k: v for k, v in values["autoscaling"].items() if k != "enabled"}
    assert spec["database"]["secretRef"] == values["database"]["secretRef"]
    assert spec["database"]["readReplicaSecretRef"] == values["database"]["readReplicaSecretRef"]
    assert spec["redis"]["nodes"] == values["redis"]["nodes"]
    assert spec["redis"]["secretRef"] == values["redis"]["secretRef"]
    assert spec["ingress"]["tlsSecretName"] == values["ingress"]["tlsSecretName"]
    assert spec["jwt"] == values["jwt"]


def test_local_values_need_no_registry_and_no_storage_provisioner() -> None:
    """values-local.yaml: every image is one hack/build-node-images.sh loads into the node and is
    never pulled; the datastores keep their data in size-limited emptyDirs, so nothing asks
    for a PersistentVolume."""
    docs = render(PLATFORM_CHART, "storefront", "shop", "-f", str(LOCAL_VALUES))
    spec = one(docs, "Storefront")["spec"]
    assert spec["image"] == "storefront-app:local"
    assert "ingress" not in spec
    assert not by_kind(docs, "PersistentVolumeClaim")
    images = {}
    for name, size in (("storefront-postgresql", "2Gi"), ("storefront-redis", "1Gi")):
        statefulset = one(docs, "StatefulSet", name)
        assert "volumeClaimTemplates" not in statefulset["spec"], name
        volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
        assert volumes["data"] == {"name": "data", "emptyDir": {"sizeLimit": size}}, name
        container = statefulset["spec"]["template"]["spec"]["containers"][0]
        assert container["imagePullPolicy"] == "Never", name
        images[name] = container["image"]
    assert images == {"storefront-postgresql": "storefront-postgresql:15", "storefront-redis": "storefront-redis:7"}
    test_pod = one(docs, "Pod")["spec"]["containers"][0]
    assert (test_pod["image"], test_pod["imagePullPolicy"]) == ("storefront-app:local", "Never")


def test_postgresql_persistence_off_is_an_empty_dir_and_on_by_default() -> None:
    on = one(render(PLATFORM_CHART, "storefront", "shop"), "StatefulSet", "storefront-postgresql")
    assert [t["metadata"]["name"] for t in on["spec"]["volumeClaimTemplates"]] == ["data"]
    assert "data" not in {v["name"] for v in on["spec"]["template"]["spec"]["volumes"]}
    off = one(render(PLATFORM_CHART, "storefront", "shop", "--set", "development.postgresql.persistence.enabled=false",
                     "--set", "development.postgresql.persistence.size=3Gi"), "StatefulSet", "storefront-postgresql")
    assert "volumeClaimTemplates" not in off["spec"]
    volumes = {v["name"]: v for v in off["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["emptyDir"] == {"sizeLimit": "3Gi"}
    mounts = off["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "data", "mountPath": "/var/lib/postgresql/data"} in mounts


def test_image_digest_pins_the_image() -> None:
    digest = "sha256:" + "ab" * 32
    sf = one(render(PLATFORM_CHART, "storefront", "shop", "--set", f"image.digest={digest}"), "Storefront")
    assert sf["spec"]["image"] == f"storefront-app@{digest}"
    op = one(render(OPERATOR_CHART, "op", "ops", "--set", f"image.digest={digest}"), "Deployment")
    assert op["spec"]["template"]["spec"]["containers"][0]["image"] == f"storefront-operator@{digest}"


def test_existing_secrets_replace_the_generated_ones() -> None:
    docs = render(PLATFORM_CHART, "storefront", "shop",
                  "--set", "development.postgresql.existingSecret=my-db",
                  "--set", "development.redis.existingSecret=my-redis")
    assert not by_kind(docs, "Secret")
    spec = one(docs, "Storefront")["spec"]
    assert spec["database"]["secretRef"]["name"] == "my-db"
    assert spec["redis"]["secretRef"]["name"] == "my-redis"
    volumes = {v["name"]: v for v in one(docs, "StatefulSet", "storefront-redis")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["credentials"]["secret"]["secretName"] == "my-redis"


INVALID_VALUES = [
    (PLATFORM_CHART, ("--set", "development.enabled=false"), "at '/database/secretRef/name': minLength"),
    (PLATFORM_CHART, ("--set", "redis.mode=sentinel"), "at '/redis/mode': value must be one of 'standalone', 'cluster'"),
    (PLATFORM_CHART, ("--set", "redis.mode=standalone"), "at '/redis/address'"),
    (PLATFORM_CHART, ("--set", "jwt.accessTokenTTL=15minutes"), "at '/jwt/accessTokenTTL': '15minutes' does not match pattern"),
    (PLATFORM_CHART, ("--set", "jwt.algorithm=HS256"), "at '/jwt/algorithm': value must be one of 'EdDSA', 'ES256'"),
    (PLATFORM_CHART, ("--set", "development.redis.nodes=2"), "at '/development/redis/nodes': minimum: got 2, want 3"),
    (PLATFORM_CHART, ("--set", "replicas=-1"), "at '/replicas': minimum: got -1, want 0"),
    (PLATFORM_CHART, ("--set", "ingress.host=Not_A_Host"), "at '/ingress/host': 'Not_A_Host' does not match pattern"),
    (PLATFORM_CHART, ("--set", "replica=3"), "additional properties 'replica' not allowed"),
    (PLATFORM_CHART, ("--set", "image.digest=latest"), "at '/image/digest'"),
    (PLATFORM_CHART, ("--set", "autoscaling.enabled=true,autoscaling.minReplicas=5,autoscaling.maxReplicas=2"),
     "autoscaling.minReplicas (5) must not exceed autoscaling.maxReplicas (2)"),
    (PLATFORM_CHART, ("--set", "development.enabled=false,database.secretRef.name=db"),
     "redis.nodes.serviceName is required in cluster mode when development.enabled is false"),
    (OPERATOR_CHART, ("--set", "replicaCount=two"), "at '/replicaCount': got string, want integer"),
    (OPERATOR_CHART, ("--set", "securityContext.allowPrivilegeEscalation=true"),
     "at '/securityContext/allowPrivilegeEscalation': value must be false"),
    (OPERATOR_CHART, ("--set", "podSecurityContext.runAsNonRoot=false"), "at '/podSecurityContext/runAsNonRoot'"),
    (OPERATOR_CHART, ("--set", "watchNamespaces={Shop_EU}"), "at '/watchNamespaces/0'"),
    (OPERATOR_CHART, ("--set", "metrics.port=70000"), "at '/metrics/port': maximum: got 70,000, want 65,535"),
]


@pytest.mark.parametrize("chart, values, message", INVALID_VALUES,
                         ids=[f"{c.name}:{' '.join(v[1:])}" for c, v, _ in INVALID_VALUES])
def test_invalid_values_are_refused_with_a_clear_message(chart, values, message) -> None:
    result = template(chart, "sf", "shop", *values, check=False)
    assert result.returncode != 0, f"{values} rendered:\n{result.stdout[:500]}"
    assert message in result.stderr, result.stderr


def test_crd_in_the_chart_and_in_k8s_are_the_same() -> None:
    chart_files = sorted(p.name for p in CRD_DIR.glob("*.yaml"))
    assert "storefronts.platform.storefront.dev.yaml" in chart_files
    for name in chart_files:
        assert (CRD_DIR / name).read_text() == (REPO / "k8s" / "crds" / name).read_text(), name


def _tools_env(name: str) -> str:
    line = next(line for line in (REPO / "hack" / "tools.env").read_text().splitlines() if line.startswith(f"{name}="))
    return line.split("=", 1)[1].strip()


def test_ingress_chart_runs_the_locally_built_traefik_for_the_platform_chart_class() -> None:
    """The controller's image is the one hack/build-node-images.sh tags from TRAEFIK_VERSION; its
    IngressClass is the one the platform chart names; it never calls home."""
    version = _tools_env("TRAEFIK_VERSION")
    chart = yaml.safe_load((INGRESS_CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    docs = render(INGRESS_CHART, "ingress-traefik", "ingress")
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"storefront-traefik:{version}"
    assert {"--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
            "--providers.kubernetesIngress=true"} <= set(container["args"])
    ingress_class = one(docs, "IngressClass")
    assert ingress_class["spec"]["controller"] == "traefik.io/ingress-controller"
    platform_values = yaml.safe_load((PLATFORM_CHART / "values.yaml").read_text())
    assert ingress_class["metadata"]["name"] == platform_values["ingress"]["className"] == "traefik"
    assert f"kind load docker-image storefront-traefik:{version}" in (REPO / "docs" / "kind.md").read_text()


def test_ingress_chart_rbac_only_reads_and_secrets_only_in_watched_namespaces() -> None:
    for extra, namespaced in (((), False), (("--set", "watchNamespaces={shop,shop-eu}"), True)):
        docs = render(INGRESS_CHART, "ingress-traefik", "ingress", *extra)
        roles = by_kind(docs, "ClusterRole") + by_kind(docs, "Role")
        assert roles
        for role in roles:
            for rule in role["rules"]:
                assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        granted = {r for role in roles for rule in role["rules"] for r in rule["resources"]}
        assert granted == {"ingressclasses", "nodes", "ingresses", "services", "secrets", "endpointslices"}
        routes = next(r for r in roles if "secrets" in {x for rule in r["rules"] for x in rule["resources"]})
        bound = [b for b in by_kind(docs, "ClusterRoleBinding") + by_kind(docs, "RoleBinding")
                 if b["roleRef"]["name"] == routes["metadata"]["name"]]
        if namespaced:
            # Namespaced reads through RoleBindings in the watched namespaces only.
            assert sorted((b["kind"], b["metadata"]["namespace"]) for b in bound) == [
                ("RoleBinding", "shop"), ("RoleBinding", "shop-eu")]
            args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
            assert "--providers.kubernetesIngress.namespaces=shop,shop-eu" in args
        else:
            assert [b["kind"] for b in bound] == ["ClusterRoleBinding"]
