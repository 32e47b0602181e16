"""The part of skaffold's `skaffold/v4beta12` configuration schema this project uses, written
from skaffold's documented schema (docs: skaffold.dev/docs/references/yaml/). Every object
refuses unknown keys, as skaffold's own schema does, so a misspelt field fails the test
instead of being silently ignored by a developer's skaffold."""

from __future__ import annotations

from typing import Any


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties, "required": list(required)}


STR: dict[str, Any] = {"type": "string"}
BOOL: dict[str, Any] = {"type": "boolean"}
INT: dict[str, Any] = {"type": "integer"}
STRS: dict[str, Any] = {"type": "array", "items": STR}
STR_MAP: dict[str, Any] = {"type": "object", "additionalProperties": STR}
ANY_MAP: dict[str, Any] = {"type": "object"}

SYNC_RULE = _obj({"src": STR, "dest": STR, "strip": STR}, ("src", "dest"))
SYNC = _obj({"manual": {"type": "array", "items": SYNC_RULE}, "infer": STRS, "auto": BOOL, "hooks": ANY_MAP})
DOCKER_ARTIFACT = _obj({
    "dockerfile": STR, "target": STR, "buildArgs": STR_MAP, "network": STR, "addHost": STRS, "cacheFrom": STRS,
    "cliFlags": STRS, "pullParent": BOOL, "noCache": BOOL, "squash": BOOL, "secrets": {"type": "array"}, "ssh": STR,
})
ARTIFACT = _obj({
    "image": STR, "context": STR, "sync": SYNC, "requires": {"type": "array"}, "hooks": ANY_MAP, "platforms": STRS,
    "runtimeType": STR, "docker": DOCKER_ARTIFACT,
}, ("image",))
GIT_TAGGER = _obj({"variant": {"enum": ["Tags", "CommitSha", "AbbrevCommitSha", "TreeSha", "AbbrevTreeSha"]},
                   "prefix": STR, "ignoreChanges": BOOL})
TAG_POLICY = _obj({"gitCommit": GIT_TAGGER, "sha256": ANY_MAP, "envTemplate": ANY_MAP, "dateTime": ANY_MAP,
                   "customTemplate": ANY_MAP, "inputDigest": ANY_MAP})
LOCAL_BUILD = _obj({"push": BOOL, "tryImportMissing": BOOL, "useDockerCLI": BOOL, "useBuildkit": BOOL,
                    "concurrency": INT})
BUILD = _obj({"artifacts": {"type": "array", "items": ARTIFACT}, "insecureRegistries": STRS, "tagPolicy": TAG_POLICY,
              "platforms": STRS, "local": LOCAL_BUILD, "hooks": ANY_MAP})
HELM_RELEASE = _obj({
    "name": STR, "chartPath": STR, "remoteChart": STR, "valuesFiles": STRS, "namespace": STR, "version": STR,
    "setValues": ANY_MAP, "setValueTemplates": ANY_MAP, "setFiles": STR_MAP, "createNamespace": BOOL, "wait": BOOL,
    "recreatePods": BOOL, "skipBuildDependencies": BOOL, "skipTests": BOOL, "useHelmSecrets": BOOL, "repo": STR,
    "upgradeOnChange": BOOL, "overrides": ANY_MAP, "packaged": ANY_MAP, "dependsOn": STRS,
}, ("name",))
HELM_DEPLOY = _obj({"concurrency": INT, "releases": {"type": "array", "items": HELM_RELEASE},
                    "flags": _obj({"global": STRS, "install": STRS, "upgrade": STRS}), "hooks": ANY_MAP})
DEPLOY = _obj({"docker": ANY_MAP, "helm": HELM_DEPLOY, "kpt": ANY_MAP, "kubectl": ANY_MAP, "cloudrun": ANY_MAP,
               "statusCheck": BOOL, "statusCheckDeadlineSeconds": INT, "tolerateFailuresUntilDeadline": BOOL,
               "kubeContext": STR, "logs": ANY_MAP})
PORT_FORWARD = _obj({"resourceType": STR, "resourceName": STR, "namespace": STR,
                     "port": {"type": ["string", "integer"]}, "address": STR, "localPort": INT})
RESOURCE_FILTER = _obj({"groupKind": STR, "image": STRS, "labels": STRS, "podSpec": STRS}, ("groupKind",))
RESOURCE_SELECTOR = _obj({"allow": {"type": "array", "items": RESOURCE_FILTER},
                          "deny": {"type": "array", "items": RESOURCE_FILTER}})
ACTIVATION = _obj({"env": STR, "kubeContext": STR, "command": STR})
JSON_PATCH = _obj({"op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]}, "path": STR, "from": STR,
                   "value": {}}, ("path",))
PROFILE = _obj({
    "name": STR, "activation": {"type": "array", "items": ACTIVATION}, "requiresAllActivations": BOOL,
    "patches": {"type": "array", "items": JSON_PATCH}, "build": BUILD, "test": {"type": "array"},
    "manifests": ANY_MAP, "deploy": DEPLOY, "portForward": {"type": "array", "items": PORT_FORWARD},
    "resourceSelector": RESOURCE_SELECTOR, "verify": {"type": "array"}, "customActions": {"type": "array"},
}, ("name",))

SCHEMA: dict[str, Any] = _obj({
    "apiVersion": {"const": "skaffold/v4beta12"}, "kind": {"const": "Config"},
    "metadata": _obj({"name": STR, "labels": STR_MAP, "annotations": STR_MAP}),
    "requires": {"type": "array"}, "build": BUILD, "test": {"type": "array"}, "manifests": ANY_MAP, "deploy": DEPLOY,
    "portForward": {"type": "array", "items": PORT_FORWARD}, "resourceSelector": RESOURCE_SELECTOR,
    "verify": {"type": "array"}, "customActions": {"type": "array"},
    "profiles": {"type": "array", "items": PROFILE},
}, ("apiVersion", "kind"))


def apply_patches(config: dict[str, Any], patches: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON-patch `add`/`replace` as skaffold applies a profile's patches; a path whose parent
    does not exist is an error, as it is for skaffold."""
    import copy

    result = copy.deepcopy(config)
    for patch in patches:
        op = patch.get("op", "replace")
        if op not in ("add", "replace"):
            raise ValueError(f"patch op {op!r} not supported by this check")
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in patch["path"].lstrip("/").split("/")]
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            if op == "add":
                node.insert(len(node) if last == "-" else int(last), patch["value"])
            else:
                node[int(last)] = patch["value"]
        else:
            if op == "replace" and last not in node:
                raise KeyError(f"replace of missing {patch['path']}")
            node[last] = patch["value"]
    return result
