"""Installing the platform on a real node: the operator's chart, then a Storefront whose
migration Job, app pods and datastores really run, and a customer's journey through the
Service (kube-proxy), through the Ingress (Traefik) and cluster DNS."""

from __future__ import annotations

import base64
import secrets
import uuid

import httpx
import pytest
from e2e_support import APP_IMAGE, E2E, OPERATOR_IMAGE, TRAEFIK_IMAGE, Platform

from storefront_harness.platform import INGRESS_CLASS, INGRESS_NAMESPACE, INGRESS_RELEASE, OPERATOR_NAMESPACE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_operator_runs_as_a_pod_under_restricted_pod_security(e2e: E2E, platform: Platform) -> None:
    ns = e2e.get("namespace", OPERATOR_NAMESPACE)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = e2e.items("pods", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/name=storefront-operator")
    assert pods, "no operator pod"
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        container = pod["status"]["containerStatuses"][0]
        assert container["ready"], container
        assert container["image"].endswith(OPERATOR_IMAGE)
    # The chart's own test pod, run by the kubelet to completion.
    result = e2e.helm("test", "storefront-operator", "-n", OPERATOR_NAMESPACE, "--timeout", "3m")
    assert "Phase:          Succeeded" in result.stdout, result.stdout


def test_the_migration_job_ran_alembic_against_postgresql(e2e: E2E, platform: Platform) -> None:
    jobs = e2e.items("jobs", "-n", platform.namespace)
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    job = jobs[0]
    # Completed by the Job controller from the pod the kubelet ran, not by anyone writing status.
    complete = {c["type"]: c["status"] for c in job["status"].get("conditions", [])}
    assert complete.get("Complete") == "True", job["status"]
    pods = e2e.items("pods", "-n", platform.namespace, "-l", f"job-name={job['metadata']['name']}")
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    sf = e2e.get("storefront", platform.name, "-n", platform.namespace)
    # The revision the pod wrote to its termination message is the schema the app reports.
    assert sf["status"]["schemaRevision"]
    assert sf["status"]["schemaRevision"] in terminated.get("message", "")
    assert e2e.condition(platform.namespace, platform.name)["MigrationsSucceeded"]["status"] == "True"
    with e2e.client(platform.namespace, platform.name) as client:
        version = client.get("/version").json()
    assert version["schema_revision"] == sf["status"]["schemaRevision"], version


def test_every_platform_pod_runs_from_a_local_image_and_passes_its_probes(e2e: E2E, platform: Platform) -> None:
    pods = e2e.items("pods", "-n", platform.namespace)
    running = {p["metadata"]["name"]: p for p in pods if p["status"]["phase"] == "Running"}
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in running.values()}
    assert {"api", "postgresql", "redis"} <= components, components
    for name, pod in running.items():
        for status in pod["status"]["containerStatuses"]:
            assert status["ready"], f"{name}: {status}"
            assert status["imageID"], f"{name} runs no image the node knows: {status}"
    api = [p for p in running.values() if p["metadata"]["labels"].get("app.kubernetes.io/component") == "api"]
    assert len(api) == 2
    for pod in api:
        assert pod["spec"]["containers"][0]["image"] == APP_IMAGE
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
    # The Service sends traffic only to the ready pods' addresses.
    slices = e2e.items("endpointslices", "-n", platform.namespace, "-l", f"kubernetes.io/service-name={platform.name}")
    addresses = {a for s in slices for e in s.get("endpoints") or [] if e["conditions"].get("ready")
                 for a in e["addresses"]}
    assert addresses == {p["status"]["podIP"] for p in api}


def _create_admin(e2e: E2E, platform: Platform) -> tuple[str, str]:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    password = secrets.token_urlsafe(18)
    # Through the app's own CLI in a running pod (kubectl exec: API server to kubelet).
    e2e.kubectl("exec", "-n", platform.namespace, f"deploy/{platform.name}", "-c", "api", "--",
                "python", "-m", "app.cli", "create-admin", "--email", email, f"--password={password}", "--name", "Admin")
    return email, password


def _customer_journey(client: httpx.Client, admin_email: str, admin_password: str) -> None:
    """An admin adds a product; a customer registers, logs in, finds it and orders two."""
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    admin = client.post("/auth/login", json={"email": admin_email, "password": admin_password})
    assert admin.status_code == 200, admin.text
    admin_headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    product = client.post("/products", headers=admin_headers,
                          json={"name": "Node-grown tomato", "price": "2.50", "stock": 5})
    assert product.status_code == 201, product.text

    customer = {"email": f"c-{uuid.uuid4().hex[:8]}@example.com", "password": secrets.token_urlsafe(18),
                "name": "Customer"}
    assert client.post("/auth/register", json=customer).status_code == 201
    login = client.post("/auth/login", json={"email": customer["email"], "password": customer["password"]})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    listed = client.get("/products")
    assert product.json()["id"] in {p["id"] for p in listed.json()["items"]}
    order = client.post("/orders", headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                        json={"items": [{"product_id": product.json()["id"], "quantity": 2}]})
    assert order.status_code == 201, order.text
    assert client.get(f"/orders/{order.json()['id']}", headers=headers).status_code == 200
    assert client.get(f"/products/{product.json()['id']}").json()["stock"] == 3


def test_a_customer_journey_through_the_service(e2e: E2E, platform: Platform) -> None:
    email, password = _create_admin(e2e, platform)
    with e2e.client(platform.namespace, platform.name) as client:
        _customer_journey(client, email, password)


def test_a_customer_journey_through_the_ingress(e2e: E2E, platform: Platform) -> None:
    """The operator's Ingress names the ``traefik`` IngressClass; Traefik (its own pod, from the
    local image, in a restricted namespace) routes the Storefront's host to the Service's
    ready endpoints. Requests go to its NodePort on the node's address with that Host header."""
    sf = e2e.get("storefront", platform.name, "-n", platform.namespace)
    host = sf["spec"]["ingress"]["host"]
    ingress = e2e.get("ingress", platform.name, "-n", platform.namespace)
    assert ingress["spec"]["ingressClassName"] == INGRESS_CLASS
    assert ingress["spec"]["rules"][0]["host"] == host
    ingress_class = e2e.get("ingressclass", INGRESS_CLASS)
    assert ingress_class["spec"]["controller"] == "traefik.io/ingress-controller"

    e2e.kubectl("rollout", "status", "-n", INGRESS_NAMESPACE, f"deployment/{INGRESS_RELEASE}", "--timeout=180s")
    controller = e2e.items("pods", "-n", INGRESS_NAMESPACE, "-l", f"app.kubernetes.io/instance={INGRESS_RELEASE}")
    assert [p["status"]["phase"] for p in controller] == ["Running"]
    assert controller[0]["spec"]["containers"][0]["image"] == TRAEFIK_IMAGE
    assert e2e.get("namespace", INGRESS_NAMESPACE)["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"

    service = e2e.get("service", INGRESS_RELEASE, "-n", INGRESS_NAMESPACE)
    node_port = service["spec"]["ports"][0]["nodePort"]
    url = f"http://{e2e.cluster.network.node_ip}:{node_port}"
    with httpx.Client(base_url=url, headers={"Host": host}, timeout=10) as client:
        # Traefik picks the Ingress up from its watch: a bounded wait for the route.
        e2e.wait(lambda: _answers(client, "/ready"), f"{url}/ready with Host {host} through Traefik",
                 timeout=60, namespace=INGRESS_NAMESPACE)
        email, password = _create_admin(e2e, platform)
        _customer_journey(client, email, password)
        # Routing is by host: another name is not the Storefront's.
        other = client.get("/ready", headers={"Host": "elsewhere.storefront.test"})
        assert other.status_code == 404, other.text
    # And it was Traefik that carried the order: its access log names the request.
    log = e2e.pod_logs(INGRESS_NAMESPACE, f"app.kubernetes.io/instance={INGRESS_RELEASE}", tail=200)
    assert '"POST /orders HTTP/1.1" 201' in log, log[-3000:]


def _answers(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.TransportError:
        return False


def test_cluster_dns_resolves_the_service_from_a_pod(e2e: E2E, platform: Platform) -> None:
    """The platform chart's helm test pod reaches /ready by the Service's DNS name; and from an
    API pod, that name resolves to the Service's ClusterIP through CoreDNS."""
    result = e2e.helm("test", platform.name, "-n", platform.namespace, "--timeout", "3m")
    assert "Phase:          Succeeded" in result.stdout, result.stdout
    cluster_ip = e2e.get("service", platform.name, "-n", platform.namespace)["spec"]["clusterIP"]
    lookup = e2e.kubectl("exec", "-n", platform.namespace, f"deploy/{platform.name}", "-c", "api", "--",
                         "python", "-c", f"import socket; print(socket.gethostbyname('{platform.name}.{platform.namespace}.svc'))")
    assert lookup.stdout.strip() == cluster_ip


def test_the_keyset_reaches_the_pods_through_the_secret_volume(e2e: E2E, platform: Platform) -> None:
    secret = e2e.get("secret", f"{platform.name}-jwt-keys", "-n", platform.namespace)
    keyset = base64.b64decode(secret["data"]["keyset.json"]).decode()
    active = e2e.get("storefront", platform.name, "-n", platform.namespace)["status"]["activeKid"]
    assert active in keyset
    with e2e.client(platform.namespace, platform.name) as client:
        kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert active in kids
