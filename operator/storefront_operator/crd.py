"""The Storefront CustomResourceDefinition, as data: the single source of truth.

``python -m storefront_operator.crd`` prints it as YAML; ``hack/gen-crds.sh`` writes it to the
operator chart and to ``k8s/crds/``, and a test checks both files equal this output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from .model import DEFAULT_PROPAGATION_DELAY, DEFAULT_WORKER_RESOURCES
from .settings import GROUP, KIND, PLURAL, VERSION

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(h|m|s))+$"
Schema = dict[str, Any]


def _str(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def _int(description: str, **extra: Any) -> Schema:
    return {"type": "integer", "format": "int32", "description": description, **extra}


def _bool(description: str, default: bool) -> Schema:
    return {"type": "boolean", "description": description, "default": default}


def _duration(description: str, default: str) -> Schema:
    return _str(f"{description} A Go-style duration such as 90s, 15m or 720h.",
                pattern=DURATION_PATTERN, default=default, maxLength=32)


def _obj(description: str, properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _secret_ref(description: str, default_key: str) -> Schema:
    return _obj(description, {
        "name": _str("Name of the Secret in the Storefront's namespace.", minLength=1, maxLength=253),
        "key": _str(f"Key inside the Secret. Defaults to `{default_key}`.", default=default_key, minLength=1, maxLength=253),
    }, required=["name"])


def _quantities(description: str) -> Schema:
    return {
        "type": "object", "description": description,
        "additionalProperties": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
        },
    }


def _autoscaling() -> Schema:
    return _obj(
        "Horizontal pod autoscaling of the app. When set, an HPA owns the replica count and `replicas` is ignored.",
        {
            "minReplicas": _int("Lowest number of app replicas.", minimum=1, maximum=1000, default=2),
            "maxReplicas": _int("Highest number of app replicas.", minimum=1, maximum=1000),
            "targetCPUUtilizationPercentage": _int("Average CPU utilisation, in percent of the request, the HPA aims for.",
                                                   minimum=1, maximum=100, default=70),
        },
        required=["maxReplicas"],
        **{"x-kubernetes-validations": [
            {"rule": "self.minReplicas <= self.maxReplicas", "message": "autoscaling.minReplicas must not exceed maxReplicas",
             "fieldPath": ".minReplicas", "reason": "FieldValueInvalid"},
        ]},
    )


def _database() -> Schema:
    return _obj("The PostgreSQL database of the app.", {
        "secretRef": _secret_ref("Secret holding the SQLAlchemy URL (postgresql+asyncpg://…) of the primary.", "url"),
        "readReplicaSecretRef": _secret_ref("Optional Secret holding the URL of a read replica.", "url"),
    }, required=["secretRef"])


def _redis() -> Schema:
    nodes = _obj(
        "How the operator finds the cluster-mode Redis nodes: the endpoints of a headless Service or the pods matching a selector.",
        {
            "serviceName": _str("Name of a (headless) Service whose ready endpoints are the Redis nodes.", minLength=1, maxLength=63),
            "selector": {"type": "object", "description": "Labels of the Redis node pods, in the Storefront's namespace.",
                         "additionalProperties": {"type": "string"}, "maxProperties": 16},
            "port": _int("Redis data port of every node.", minimum=1, maximum=65535, default=6379),
        },
        **{"x-kubernetes-validations": [
            {"rule": "has(self.serviceName) != has(self.selector)",
             "message": "redis.nodes needs exactly one of serviceName or selector"},
        ]},
    )
    return _obj(
        "The Redis the app uses for refresh-token state, rate limits and caching.",
        {
            "mode": _str("`standalone`: one server at `address`. `cluster`: the operator forms and heals a Redis Cluster from `nodes`.",
                         enum=["standalone", "cluster"], default="standalone"),
            "address": _str("host:port of the standalone Redis server.", pattern=r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$", maxLength=261),
            "nodes": nodes,
            "replicasPerMaster": _int("Cluster mode: replicas per master. The node count must be a multiple of (1 + replicasPerMaster), "
                                      "with at least three masters.", minimum=0, maximum=5, default=0),
            "secretRef": _secret_ref("Optional Secret holding the Redis password (also used between cluster nodes).", "password"),
        },
        **{"x-kubernetes-validations": [
            {"rule": "self.mode != 'cluster' || has(self.nodes)", "message": "redis.mode cluster requires redis.nodes",
             "reason": "FieldValueRequired"},
            {"rule": "self.mode != 'standalone' || has(self.address)", "message": "redis.mode standalone requires redis.address",
             "reason": "FieldValueRequired"},
        ]},
    )


def _jwt() -> Schema:
    return _obj(
        "Signing keys of the app's access tokens, created and rotated by the operator in the Secret `<name>-jwt-keys`.",
        {
            "algorithm": _str("Signature algorithm of new keys: EdDSA (Ed25519) or ES256 (P-256).", enum=["EdDSA", "ES256"], default="EdDSA"),
            "rotationInterval": _duration("How long a key signs before the operator rotates it.", "720h"),
            "accessTokenTTL": _duration("Lifetime of an access token; a retired key stays published this long (plus clock skew).", "15m"),
            "propagationDelay": _duration("How long a new key is published for verification only before it signs. "
                                          "Must exceed the time a Secret update takes to reach the pods' volumes "
                                          "(the kubelet's sync period plus jitter: about 92s with its defaults).",
                                          DEFAULT_PROPAGATION_DELAY),
        },
        # The full default (not {}): the API server checks the CEL rules against the default as written.
        default={"algorithm": "EdDSA", "rotationInterval": "720h", "accessTokenTTL": "15m",
                 "propagationDelay": DEFAULT_PROPAGATION_DELAY},
        **{"x-kubernetes-validations": [
            {"rule": "duration(self.rotationInterval) > duration(self.propagationDelay)",
             "message": "jwt.rotationInterval must be longer than jwt.propagationDelay"},
            {"rule": "duration(self.accessTokenTTL) >= duration('1m') && duration(self.accessTokenTTL) <= duration('24h')",
             "message": "jwt.accessTokenTTL must be between 1m and 24h"},
        ]},
    )


def _migrations() -> Schema:
    return _obj("Database migrations run as a Job before each new image or version is rolled out.", {
        "enabled": _bool("Run `python -m app.cli migrate` (alembic upgrade head) before rolling out a new image or version.", True),
        "timeoutSeconds": _int("activeDeadlineSeconds of the migration Job.", minimum=10, maximum=86400, default=600),
        "backoffLimit": _int("Pod retries inside one migration Job before it counts as failed.", minimum=0, maximum=10, default=2),
        "policy": _str(
            "What may run of an upgrade's migration plan (the pending revisions, classified safe, destructive or locking "
            "by a plan Job before anything runs). `Refuse`: a revision with a locking operation, or a destructive one "
            "not marked post-deployment, waits (Progressing=False, reason MigrationNeedsApproval; the running version "
            "keeps serving) until it is listed in `approvedRevisions`. `RequireApproval`: every pending revision waits "
            "for approval. `Allow`: everything runs. A first install (nothing serving) always runs.",
            enum=["Refuse", "RequireApproval", "Allow"], default="Refuse"),
        "approvedRevisions": {
            "type": "array", "maxItems": 256, "x-kubernetes-list-type": "set",
            "description": "Alembic revision ids approved to run although the policy holds them; adding the held "
                           "revision resumes the rollout. See status.migration.plan for what each revision does.",
            "items": _str("One Alembic revision id, e.g. 0005_drop_legacy_code.", minLength=1, maxLength=128),
        },
    }, default={"enabled": True, "timeoutSeconds": 600, "backoffLimit": 2, "policy": "Refuse"})


def _observability() -> Schema:
    return _obj("OpenTelemetry tracing of the app and worker pods. Omit otlpEndpoint to keep tracing off "
                "(nothing is installed in the pods then).", {
        "otlpEndpoint": _str("Base URL of an OTLP/HTTP receiver (a collector), e.g. "
                             "http://otel-collector.observability:4318; spans go to <otlpEndpoint>/v1/traces. "
                             "Set as STOREFRONT_OTLP_ENDPOINT in the pods.",
                             maxLength=512, pattern=r"^https?://[^\s]+$"),
        "samplingRatio": {"type": "number", "minimum": 0, "maximum": 1,
                          "description": "Share of new traces recorded, 0 to 1 (by trace id; a caller's sampled "
                                         "traceparent is always followed). Omit for the app's default, 1.0."},
    })


def _worker() -> Schema:
    autoscaling = _obj(
        "Horizontal pod autoscaling of the workers. When set, an HPA owns the worker count and `replicas` is ignored.",
        {
            "minReplicas": _int("Lowest number of workers.", minimum=1, maximum=100, default=1),
            "maxReplicas": _int("Highest number of workers (required unless the metric is KEDA).", minimum=1, maximum=100),
            "metric": _str("`CPU`: an HPA on CPU utilisation (works everywhere metrics-server runs). `QueueLag`: an HPA on "
                           "the external metric `storefront_queue_lag{storefront=<name>}`, which a metrics adapter (e.g. "
                           "prometheus-adapter) must serve from the workers' gauge. `KEDA`: no HPA, and the operator leaves "
                           "the worker count to a KEDA ScaledObject you create (see docs/operator.md).",
                           enum=["CPU", "QueueLag", "KEDA"], default="CPU"),
            "targetCPUUtilizationPercentage": _int("CPU metric: average utilisation, in percent of the request, to aim for.",
                                                   minimum=1, maximum=100, default=70),
            "targetQueueLagPerReplica": _int("QueueLag metric: undelivered events per worker to aim for.",
                                             minimum=1, maximum=1000000, default=100),
        },
        **{"x-kubernetes-validations": [
            {"rule": "self.metric == 'KEDA' || has(self.maxReplicas)", "message": "worker.autoscaling.maxReplicas is required",
             "reason": "FieldValueRequired"},
            {"rule": "!has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
             "message": "worker.autoscaling.minReplicas must not exceed maxReplicas",
             "fieldPath": ".minReplicas", "reason": "FieldValueInvalid"},
        ]},
    )
    return _obj(
        "The queue worker (`python -m app.worker`): relays the outbox to the event stream and consumes it (webhooks, "
        "order expiry). Runs the same image and version as the app, after the same migrations.",
        {
            "enabled": _bool("Run the worker Deployment. Without workers, events wait in the outbox.", True),
            "replicas": _int("Number of workers when autoscaling is not set.", minimum=0, maximum=100, default=1),
            "autoscaling": autoscaling,
            "resources": _obj("Compute resources of the worker container.", {
                "requests": _quantities("Minimum resources, e.g. {cpu: 50m, memory: 192Mi}."),
                "limits": _quantities("Maximum resources, e.g. {cpu: 500m, memory: 384Mi}."),
            }, default=DEFAULT_WORKER_RESOURCES),
        },
        default={"enabled": True, "replicas": 1},
    )


def _ingress() -> Schema:
    return _obj("Expose the API through an Ingress. Omit to keep the Service cluster-internal.", {
        "host": _str("Public host name.", minLength=1, maxLength=253,
                     pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        "tlsSecretName": _str("Secret holding the TLS certificate for the host; omit for plain HTTP.", maxLength=253),
        "className": _str("IngressClass to use; omit for the cluster default.", maxLength=253),
    }, required=["host"])


def _env() -> Schema:
    return {
        "type": "array", "maxItems": 100, "description": "Extra environment variables of the app container.",
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": _obj("One environment variable.", {
            "name": _str("Variable name.", minLength=1, maxLength=256, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"),
            "value": _str("Literal value."),
            "valueFrom": {"type": "object", "description": "A Kubernetes EnvVarSource (secretKeyRef, configMapKeyRef, fieldRef, …).",
                          "x-kubernetes-preserve-unknown-fields": True},
        }, required=["name"]),
    }


def spec_schema() -> Schema:
    return _obj(
        "Desired state of one Storefront platform.",
        {
            "image": _str("Container image of the app, e.g. ghcr.io/example/storefront-api:1.4.0.", minLength=1, maxLength=512),
            "version": _str("Version of the app the image carries; a change runs migrations before the rollout.", minLength=1, maxLength=128),
            "replicas": _int("Number of app replicas when autoscaling is not set.", minimum=0, maximum=1000, default=2),
            "autoscaling": _autoscaling(),
            "database": _database(),
            "redis": _redis(),
            "jwt": _jwt(),
            "observability": _observability(),
            "migrations": _migrations(),
            "ingress": _ingress(),
            "worker": _worker(),
            "resources": _obj("Compute resources of the app container.", {
                "requests": _quantities("Minimum resources, e.g. {cpu: 100m, memory: 256Mi}."),
                "limits": _quantities("Maximum resources, e.g. {cpu: '1', memory: 512Mi}."),
            }, default={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}),
            "env": _env(),
            "pause": _bool("Stop reconciling the children (status is still reported). Useful for manual interventions.", False),
        },
        required=["image", "version", "database", "redis"],
    )


def _condition() -> Schema:
    return _obj("A condition per Kubernetes API conventions.", {
        "type": _str("Ready, MigrationsSucceeded, KeysReady, RedisReady, Progressing or Degraded."),
        "status": _str("True, False or Unknown.", enum=["True", "False", "Unknown"]),
        "reason": _str("CamelCase reason for the last transition."),
        "message": _str("Human-readable detail."),
        "lastTransitionTime": _str("When the status last changed.", format="date-time"),
        "observedGeneration": {"type": "integer", "format": "int64", "description": "Generation the condition was computed for."},
    }, required=["type", "status"])


def status_schema() -> Schema:
    return _obj("Observed state, written by the operator.", {
        "observedGeneration": {"type": "integer", "format": "int64", "description": "Generation of the spec last reconciled."},
        "conditions": {"type": "array", "description": "Current conditions.", "items": _condition(),
                       "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        "version": _str("Version the Deployment runs."),
        "image": _str("Image the Deployment runs."),
        "schemaRevision": _str("Alembic revision the database was last migrated to."),
        "activeKid": _str("Key id currently signing access tokens."),
        "lastKeyRotation": _str("When the last key rotation started.", format="date-time"),
        "redisNodes": {"type": "array", "description": "Redis nodes handed to the app (host:port).", "items": {"type": "string", "description": "One node as host:port."}},
        "replicas": _int("App replicas that exist."),
        "readyReplicas": _int("App replicas that are ready."),
        "worker": _obj("The worker Deployment, when `spec.worker.enabled`.", {
            "replicas": _int("Workers that exist."),
            "readyReplicas": _int("Workers that are ready."),
        }, nullable=True),
        "queue": _obj("The event stream the workers consume, as read from Redis (moving figures refresh about once per "
                      "resync; the operator's metrics carry them live).", {
            "lag": _int("Events not yet delivered to any worker.", nullable=True),
            "pending": _int("Events delivered to a worker and not yet acknowledged."),
            "deadLetters": _int("Events moved to the dead-letter stream after their last failed attempt."),
            "consumers": _int("Workers registered in the consumer group."),
            "consumerGroup": {"type": "boolean", "description": "Whether a worker has created the consumer group yet."},
            "observedAt": _str("When the figures were read.", format="date-time"),
            "message": _str("Why the queue could not be read, when it could not."),
        }),
        "migration": _obj("Progress of the migration for the desired image and version.", {
            "target": _str("Image and version being migrated to."),
            "attempt": _int("Attempt number of the migration Job for the target (starts at 1)."),
            "jobName": _str("Name of the current migration Job."),
            "lastFailureTime": _str("When the last attempt failed.", format="date-time"),
            "lastFailureReason": _str("Why the last attempt failed."),
            "phase": _str("Plan (the plan Job reports what the pending revisions do), Migrate (the revisions before the "
                          "first post-deployment one run), PostDeployment (post-deployment revisions run once the new "
                          "version is fully rolled out and no old pod remains) or Done."),
            "decision": _str("The policy's verdict on the plan: its reason (e.g. MigrationNeedsApproval, PlanAllowed)."),
            "plan": _obj("What the pending revisions do, as the plan Job reported it (the full plan, safe operations "
                         "included, is in the ConfigMap <name>-migration-plan).", {
                "from": _str("Revision the database was at."),
                "to": _str("Head revision of the image."),
                "preDeploymentTarget": _str("Last revision run before the rollout (the one before the first "
                                            "post-deployment revision)."),
                "revisions": {"type": "array", "description": "Pending revisions, oldest first.", "items": _obj(
                    "One pending revision.", {
                        "revision": _str("Alembic revision id."),
                        "safety": _str("safe, destructive or locking (the worst of its operations).",
                                       enum=["safe", "destructive", "locking"]),
                        "postDeployment": {"type": "boolean", "description": "Marked post-deployment: runs after the rollout."},
                        "destructive": {"type": "array", "description": "Its destructive operations.",
                                        "items": {"type": "string", "description": "One operation."}},
                        "locking": {"type": "array", "description": "Its locking operations.",
                                    "items": {"type": "string", "description": "One operation."}},
                    })},
            }),
        }),
        "kopf": {"type": "object", "description": "Bookkeeping of the operator framework.",
                 "x-kubernetes-preserve-unknown-fields": True},
    })


def storefront_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "storefront-operator", "app.kubernetes.io/part-of": "storefront"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "storefront", "kind": KIND, "listKind": f"{KIND}List",
                      "shortNames": ["sf"], "categories": ["storefront"]},
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                     "description": "Whether the Storefront serves its desired version."},
                    {"name": "Version", "type": "string", "jsonPath": ".status.version", "description": "Version the Deployment runs."},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".status.readyReplicas", "description": "Ready app replicas."},
                    {"name": "Progress", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Progressing")].reason',
                     "description": "Why the rollout moves or waits, e.g. MigrationNeedsApproval."},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {"openAPIV3Schema": _obj(
                    "A Storefront is one running commerce API platform whose lifecycle (migrations, signing keys, "
                    "Redis wiring) the storefront operator manages.",
                    {
                        "apiVersion": _str("APIVersion of this object."),
                        "kind": _str("Kind of this object."),
                        "metadata": {"type": "object"},  # the API server forbids describing metadata
                        "spec": spec_schema(),
                        "status": status_schema(),
                    },
                    required=["spec"],
                )},
            }],
        },
    }


def _peering_crd(kind: str, plural: str, scope: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kopf.dev"},
        "spec": {
            "scope": scope, "group": "kopf.dev",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object", "description": "Kopf peering: operator replicas announce themselves so only one acts.",
                    "properties": {"status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }},
            }],
        },
    }


def peering_crds() -> list[dict[str, Any]]:
    """Kopf's peering CRDs: with them two operator replicas never both act."""
    return [_peering_crd("ClusterKopfPeering", "clusterkopfpeerings", "Cluster"),
            _peering_crd("KopfPeering", "kopfpeerings", "Namespaced")]


HEADER = "# Generated by `python -m storefront_operator.crd`; edit operator/storefront_operator/crd.py instead.\n"


def render(which: str = "storefront") -> str:
    docs = [storefront_crd()] if which == "storefront" else peering_crds()
    return HEADER + yaml.safe_dump_all(docs, sort_keys=False, width=120)


OUTPUT_DIRS = ("charts/storefront-operator/crds", "k8s/crds")
FILES = {"storefront": "storefronts.platform.storefront.dev.yaml", "peering": "kopf-peering.yaml"}


def write(root: Path) -> list[Path]:
    """Writes every CRD file into the chart and k8s/ under ``root`` (the repository)."""
    written = []
    for directory in OUTPUT_DIRS:
        for which, filename in FILES.items():
            path = root / directory / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(which))
            written.append(path)
    return written


def main(argv: list[str]) -> None:
    """`python -m storefront_operator.crd [storefront|peering]` prints; `--write [ROOT]` writes the files."""
    if argv and argv[0] == "--write":
        root = Path(argv[1]) if len(argv) > 1 else Path.cwd()
        for path in write(root):
            print(f"wrote {path}")
        return
    which = argv[0] if argv else "storefront"
    if which not in FILES:
        raise SystemExit(f"usage: python -m storefront_operator.crd [--write [ROOT] | {' | '.join(FILES)}]")
    sys.stdout.write(render(which))


if __name__ == "__main__":
    main(sys.argv[1:])
