"""skaffold.yaml and the kind cluster config: well-formed, and every file, chart, image and
value they name exists and agrees with the charts."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging_support import PLATFORM_CHART, REPO, one, render
from skaffold_schema import SCHEMA, apply_patches

from storefront_harness.tools import tool

# Two configs, the operator's first (skaffold cleans up in reverse order: the platform first).
CONFIGS = [doc for doc in yaml.safe_load_all((REPO / "skaffold.yaml").read_text()) if doc]
KIND_CONFIG = REPO / "k8s" / "kind" / "cluster.yaml"


def _sanitized(image: str) -> str:
    """How skaffold names an artifact in template variables (IMAGE_REPO_<name>)."""
    return re.sub(r"[/\-.:]", "_", image)


def _config(name: str) -> dict:
    return next(c for c in CONFIGS if c["metadata"]["name"] == name)


def _profiles() -> dict[str, dict]:
    """Each profile name with the config it is defined in last (for its activation)."""
    return {p["name"]: p for c in CONFIGS for p in c.get("profiles", [])}


def _effective_configs() -> dict[str, list[dict]]:
    """The base configs and the configs each profile yields (patches applied where defined)."""
    configs = {"base": CONFIGS}
    for name in _profiles():
        configs[name] = [apply_patches(c, next((p.get("patches", []) for p in c.get("profiles", []) if p["name"] == name), []))
                         for c in CONFIGS]
    return configs


def _artifacts(configs: list[dict]) -> list[dict]:
    return [a for c in configs for a in c["build"]["artifacts"]]


def _releases(configs: list[dict]) -> list[dict]:
    return [r for c in configs for r in c["deploy"]["helm"]["releases"]]


def _dockerfile_stages(path: Path) -> set[str]:
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", path.read_text(), flags=re.M | re.I))


def _release(name: str) -> dict:
    return next(r for r in _releases(CONFIGS) if r["name"] == name)


@pytest.mark.parametrize("name, configs", list(_effective_configs().items()))
def test_skaffold_config_matches_its_schema_version(name, configs) -> None:
    for config in configs:
        jsonschema.validate(config, SCHEMA)


def test_the_schema_check_refuses_a_misspelt_field() -> None:
    broken = apply_patches(CONFIGS[0], [{"op": "add", "path": "/deploy/helm/releases/0/chartpath", "value": "x"}])
    with pytest.raises(jsonschema.ValidationError, match="chartpath"):
        jsonschema.validate(broken, SCHEMA)


def test_the_operator_config_comes_first_and_each_deploys_what_it_builds() -> None:
    """skaffold deploys configs in order and cleans them up in reverse: the operator (and its
    CRD) before the platform, the platform's Storefront deleted while the operator still runs."""
    assert [c["metadata"]["name"] for c in CONFIGS] == ["storefront-operator", "storefront"]
    for config in CONFIGS:
        (release,) = config["deploy"]["helm"]["releases"]
        (artifact,) = config["build"]["artifacts"]
        assert _sanitized(artifact["image"]) in release["setValueTemplates"]["image.repository"]
    # The operator's chart waits for Storefronts being deleted before it is removed.
    values = yaml.safe_load((REPO / "charts" / "storefront-operator" / "values.yaml").read_text())
    assert values["operator"]["uninstallWaitSeconds"] > 0


@pytest.mark.parametrize("name, configs", list(_effective_configs().items()))
def test_every_artifact_builds_from_files_that_exist(name, configs) -> None:
    artifacts = _artifacts(configs)
    assert {a["image"] for a in artifacts} == {"storefront-app", "storefront-operator"}
    for artifact in artifacts:
        context = REPO / artifact.get("context", ".")
        assert context.is_dir(), artifact
        dockerfile = context / artifact["docker"].get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), artifact
        target = artifact["docker"].get("target")
        if target:
            assert target in _dockerfile_stages(dockerfile), f"{dockerfile} has no stage {target}"
        build_args = set(re.findall(r"^ARG\s+([A-Z_]+)", dockerfile.read_text(), flags=re.M))
        assert set(artifact["docker"].get("buildArgs", {})) <= build_args, artifact
        for rule in artifact.get("sync", {}).get("manual", []):
            matched = [p for p in context.rglob("*") if p.is_file()
                       and fnmatch.fnmatch(p.relative_to(context).as_posix(), rule["src"])]
            assert matched, f"sync source {rule['src']} matches nothing"
            assert rule["dest"].startswith("/tmp/"), "sync must write where a read-only root lets it"


def test_dev_profile_serves_synced_sources_with_reload() -> None:
    profiles = _profiles()
    assert profiles["dev"]["activation"] == [{"command": "dev"}]
    app = next(a for a in _artifacts(_effective_configs()["dev"]) if a["image"] == "storefront-app")
    assert app["docker"]["target"] == "dev"
    dockerfile = (REPO / app["docker"]["dockerfile"]).read_text()
    dev_stage = dockerfile.split("AS dev", 1)[1]
    assert "--reload" in dev_stage
    for rule in app["sync"]["manual"]:
        assert rule["dest"] in dev_stage, f"the dev stage does not serve from {rule['dest']}"


def test_kind_profile_loads_images_instead_of_pushing() -> None:
    cluster_name = yaml.safe_load(KIND_CONFIG.read_text())["name"]
    for kind in _effective_configs()["kind"]:
        assert kind["build"]["local"]["push"] is False
        assert kind["deploy"]["kubeContext"] == f"kind-{cluster_name}"
    for config in CONFIGS:
        (profile,) = [p for p in config["profiles"] if p["name"] == "kind"]
        assert {"kubeContext": f"kind-{cluster_name}"} in profile["activation"]


def test_node_profile_pushes_images_built_from_the_local_base() -> None:
    """The no-registry loop (docs/kind.md): FROM the Debian base hack/lib/images.sh makes, with
    the host's network (that Docker has no bridge), pushed to the loopback registry; the
    platform chart with the values of a node that pulls nothing else."""
    node = _effective_configs()["node"]
    images_lib = (REPO / "hack" / "lib" / "images.sh").read_text()
    base = re.search(r'BASE_IMAGE="\$\{BASE_IMAGE:-([^}]+)\}"', images_lib).group(1)
    for config in node:
        assert config["build"]["local"]["push"] is True
        assert config["build"]["local"]["useBuildkit"] is False
        assert config["build"]["local"]["useDockerCLI"] is True  # removes each step's container
        (artifact,) = config["build"]["artifacts"]
        assert artifact["docker"]["buildArgs"]["BASE_IMAGE"] == base
        assert artifact["docker"]["network"] == "host"
        # tag@digest: exactly the name skaffold gives what it pushed, which file sync matches
        # against the pods' images; and a rebuild under the same commit tag is a new image.
        (release,) = config["deploy"]["helm"]["releases"]
        image = _sanitized(artifact["image"])
        assert release["setValueTemplates"]["image.tag"] == f"{{{{.IMAGE_TAG_{image}}}}}@{{{{.IMAGE_DIGEST_{image}}}}}"
    platform = next(r for r in _releases(node) if r["name"] == "storefront")
    assert platform["valuesFiles"] == ["charts/storefront/values-local.yaml"]
    assert (REPO / platform["valuesFiles"][0]).is_file()
    # The commands the docs give are the ones `make devloop` prints.
    script = (REPO / "hack" / "devloop.py").read_text()
    assert "skaffold dev -p node --default-repo {repo} --insecure-registry {repo}" in script
    for doc in ("README.md", "docs/kind.md"):
        text = (REPO / doc).read_text()
        assert "make devloop" in text
        assert "skaffold dev -p node --default-repo 127.0.0.1:5000 --insecure-registry 127.0.0.1:5000" in text


def test_helm_releases_use_the_charts_and_set_the_built_images() -> None:
    releases = _releases(CONFIGS)
    assert [r["name"] for r in releases] == ["storefront-operator", "storefront"], "operator (CRD) first"
    artifacts = {a["image"] for a in _artifacts(CONFIGS)}
    for release in releases:
        chart = REPO / release["chartPath"]
        assert (chart / "Chart.yaml").is_file(), release["chartPath"]
        values = yaml.safe_load((chart / "values.yaml").read_text())
        templates = release["setValueTemplates"]
        assert set(templates) == {"image.repository", "image.tag"}
        image = re.fullmatch(r"\{\{\.IMAGE_REPO_(\w+)\}\}", templates["image.repository"]).group(1)
        assert templates["image.tag"] == f"{{{{.IMAGE_TAG_{image}}}}}"
        # The artifact set into the chart is the image the chart runs by default.
        assert image == _sanitized(values["image"]["repository"])
        assert values["image"]["repository"] in artifacts
        # Every setValues key is a real value of the chart, and the schema accepts them.
        for key in release.get("setValues", {}):
            node = values
            for part in key.split("."):
                assert part in node, f"{release['name']}: {key} is not a value of {release['chartPath']}"
                node = node[part]


def test_helm_releases_render_with_the_values_skaffold_sets() -> None:
    for release in _releases(CONFIGS):
        sets = [f"{k}={v}" for k, v in release.get("setValues", {}).items()]
        sets += ["image.repository=storefront-built", "image.tag=abc1234"]
        docs = render(REPO / release["chartPath"], release["name"], release["namespace"],
                      *[arg for s in sets for arg in ("--set", s)])
        images = [c["image"] for d in docs if d["kind"] in ("Deployment", "Pod")
                  for c in (d["spec"]["template"]["spec"] if d["kind"] == "Deployment" else d["spec"])["containers"]]
        images += [d["spec"]["image"] for d in docs if d["kind"] == "Storefront"]
        assert "storefront-built:abc1234" in images


def test_the_storefront_image_is_rewritten_by_skaffold() -> None:
    """skaffold replaces built images only in fields it knows; Storefront.spec.image is made
    known through resourceSelector, and must be where the CRD keeps the image."""
    crd = yaml.safe_load((REPO / "k8s" / "crds" / "storefronts.platform.storefront.dev.yaml").read_text())
    allow = _config("storefront")["resourceSelector"]["allow"]
    assert allow == [{"groupKind": f"{crd['spec']['names']['kind']}.{crd['spec']['group']}", "image": [".spec.image"]}]
    # A new skaffold session's run-id label must not restart the datastores (and empty them).
    deny = _config("storefront")["resourceSelector"]["deny"]
    assert {"groupKind": "StatefulSet.apps", "labels": [".spec.template.metadata.labels"]} in deny
    version = crd["spec"]["versions"][0]
    assert version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["image"]["type"] == "string"


def test_port_forward_targets_the_api_service_the_operator_creates() -> None:
    from storefront_operator.children import network
    from storefront_operator.model import Storefront

    release = _release("storefront")
    docs = render(PLATFORM_CHART, release["name"], release["namespace"],
                  *[arg for k, v in release.get("setValues", {}).items() for arg in ("--set", f"{k}={v}")])
    body = one(docs, "Storefront")
    body["metadata"]["uid"] = "0"
    service = network.service(Storefront.from_body(body))
    (forward,) = _config("storefront")["portForward"]
    assert forward["resourceType"].lower() == "service"
    assert forward["resourceName"] == service["metadata"]["name"]
    assert forward["namespace"] == release["namespace"]
    assert forward["port"] in {p["port"] for p in service["spec"]["ports"]}
    assert forward["localPort"] == 8000


def test_kind_config_maps_the_ingress_controller_node_port_to_port_80() -> None:
    config = yaml.safe_load(KIND_CONFIG.read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    (node,) = config["nodes"]
    assert node["role"] == "control-plane"
    mapped = {(m["containerPort"], m["hostPort"], m["listenAddress"]) for m in node["extraPortMappings"]}
    assert mapped == {(30080, 80, "127.0.0.1")}
    # The docs install Traefik's Service on that node port, serving the class the chart names.
    doc = (REPO / "docs" / "kind.md").read_text()
    assert "--set service.nodePort=30080" in doc
    assert _release("storefront")["setValues"]["ingress.className"] == "traefik"


def _kind_decodes(config_path: Path) -> str:
    """kind's own strict decoder reads the config before it needs a container runtime; the
    runtime is pointed at a socket that does not exist, so no cluster can ever be created."""
    result = subprocess.run(
        [tool("kind"), "create", "cluster", "--config", str(config_path), "--name", "sf-config-check"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock", "KIND_EXPERIMENTAL_PROVIDER": "docker"},
    )
    assert result.returncode != 0, "kind must not have created a cluster"
    return result.stdout + result.stderr


def test_kind_accepts_the_cluster_config() -> None:
    output = _kind_decodes(KIND_CONFIG)
    assert "unable to decode config" not in output, output
    assert "docker" in output.lower(), output  # it got as far as the container runtime


def test_kind_refuses_a_misspelt_config(tmp_path: Path) -> None:
    """Control for the test above: kind's decoder is strict."""
    broken = tmp_path / "cluster.yaml"
    broken.write_text(KIND_CONFIG.read_text().replace("extraPortMappings", "extraPortMapping"))
    assert "unable to decode config" in _kind_decodes(broken)


def test_docs_use_the_same_names_as_the_files() -> None:
    doc = (REPO / "docs" / "kind.md").read_text()
    cluster = yaml.safe_load(KIND_CONFIG.read_text())["name"]
    assert "kind create cluster --config k8s/kind/cluster.yaml" in doc
    assert "skaffold dev -p kind" in doc
    assert f"kind-{cluster}" in doc
    for release in _releases(CONFIGS):
        assert f"helm --kube-context kind-{cluster} test {release['name']} -n {release['namespace']}" in doc
    host = _release("storefront")["setValues"]["ingress.host"]
    assert f"http://{host}/ready" in doc
    assert f"http://127.0.0.1:{_config('storefront')['portForward'][0]['localPort']}/ready" in doc
    for artifact in _artifacts(CONFIGS):
        assert artifact["image"] in doc
