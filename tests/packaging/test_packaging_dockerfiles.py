"""The Dockerfiles keep the image rules: swappable base, locked dependencies, non-root
numeric user, no HEALTHCHECK, OCI labels, the contract's commands and ports, and a build
context that carries no tests, environments or secrets."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest
from packaging_support import REPO, dockerfile_instructions, dockerfile_stages

APP = REPO / "Dockerfile"
OPERATOR = REPO / "operator" / "Dockerfile"
OCI_LABELS = ("title", "description", "licenses", "version", "revision", "created")


def _runtime(path: Path) -> list[tuple[str, str]]:
    """Instructions of the stage named runtime (the production image)."""
    return next(body for header, body in dockerfile_stages(path) if header.endswith("AS runtime"))


@pytest.mark.parametrize("path", [APP, OPERATOR], ids=["app", "operator"])
def test_base_image_is_an_argument_used_by_every_stage(path) -> None:
    instructions = dockerfile_instructions(path)
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    names: set[str] = set()
    for header, _ in dockerfile_stages(path):
        base, *alias = header.split()
        assert base == "${BASE_IMAGE}" or base in names, f"{path}: FROM {header}"
        if alias:
            names.add(alias[-1])
    assert {"builder", "runtime"} <= names


@pytest.mark.parametrize("path", [APP, OPERATOR], ids=["app", "operator"])
def test_dependencies_come_from_the_lock_file_in_the_builder(path) -> None:
    builder = next(body for header, body in dockerfile_stages(path) if header.endswith("AS builder"))
    runs = [args for instruction, args in builder if instruction == "RUN"]
    uv_version = re.search(r"^UV_VERSION=(\S+)$", (REPO / "hack" / "setup.sh").read_text(), flags=re.M).group(1)
    assert ("ARG", f"UV_VERSION={uv_version}") in builder, "the image's uv is the one the project pins"
    assert any('pip install "uv==${UV_VERSION}"' in run for run in runs)
    locked = [run for run in runs if "uv sync" in run]
    assert len(locked) == 2
    assert "--frozen --no-dev --no-install-project" in locked[0], "dependencies alone, first"
    assert "--frozen --no-dev" in locked[1]
    # Only the lock and project metadata precede the dependency layer: not even the README, so
    # editing it does not reinstall every dependency.
    first_sync = builder.index(("RUN", locked[0]))
    copies = [args for instruction, args in builder[:first_sync] if instruction == "COPY"]
    assert copies == ["pyproject.toml uv.lock ./"]
    # The project's metadata names README.md: it is there for the project's install.
    second_sync = builder.index(("RUN", locked[1]))
    later = [args for instruction, args in builder[first_sync:second_sync] if instruction == "COPY"]
    assert any("README.md" in args.split() for args in later), later


@pytest.mark.parametrize("path", [APP, OPERATOR], ids=["app", "operator"])
def test_runtime_stage_is_lean_non_root_and_labelled(path) -> None:
    runtime = _runtime(path)
    instructions = [i for i, _ in runtime]
    assert "HEALTHCHECK" not in {i for i, _ in dockerfile_instructions(path)}, "Kubernetes probes do that"
    assert ("USER", "10001:10001") in runtime
    # Nothing is installed in the runtime stage: no package manager, no compiler, no pip.
    for instruction, args in runtime:
        if instruction == "RUN":
            assert not re.search(r"apt-get|apk |pip |uv |gcc|make", args), args
        if instruction == "COPY" and "--from=" in args:
            assert args.split()[1] in ("/opt/venv", "/app"), args
        if instruction == "COPY":
            assert "--from=builder" in args, f"runtime copies only built results: {args}"
    assert "ADD" not in instructions
    labels = " ".join(args for instruction, args in runtime if instruction == "LABEL")
    for label in OCI_LABELS:
        assert f"org.opencontainers.image.{label}=" in labels, label
    env = " ".join(args for instruction, args in runtime if instruction == "ENV")
    assert "STOREFRONT_VERSION=${STOREFRONT_VERSION}" in env and "STOREFRONT_GIT_SHA=${STOREFRONT_GIT_SHA}" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "the root filesystem is read-only"



@pytest.mark.parametrize("path", [APP, OPERATOR], ids=["app", "operator"])
def test_the_commit_is_declared_after_every_layer_of_the_runtime_stage(path) -> None:
    """A build argument changes the cache key of every RUN after its declaration: declared after
    the last RUN and COPY, a new commit that changes none of the image's files rebuilds none of
    its layers (the node's image archive then changes only in metadata)."""
    runtime = _runtime(path)
    args = [i for i, (instruction, value) in enumerate(runtime) if instruction == "ARG"
            and value.split("=", 1)[0] in ("STOREFRONT_VERSION", "STOREFRONT_GIT_SHA", "BUILD_DATE")]
    layers = [i for i, (instruction, _) in enumerate(runtime) if instruction in ("RUN", "COPY", "ADD")]
    assert len(args) == 3 and min(args) > max(layers), runtime

def _cmd(body: list[tuple[str, str]]) -> list[str]:
    return json.loads(next(args for instruction, args in reversed(body) if instruction == "CMD"))


def test_images_follow_the_interface_contract() -> None:
    """docs/interfaces.md: the app in /app on 8000 running `python -m app.cli serve`; the
    operator running `python -m storefront_operator`, metrics 9090, health 8080."""
    app = _runtime(APP)
    assert ("WORKDIR", "/app") in app and ("EXPOSE", "8000") in app
    assert _cmd(app) == ["python", "-m", "app.cli", "serve"]
    operator = _runtime(OPERATOR)
    assert ("EXPOSE", "9090 8080") in operator
    assert _cmd(operator) == ["python", "-m", "storefront_operator"]
    # A plain `docker build` produces the production image, not the dev one.
    assert dockerfile_stages(APP)[-1][0] == "runtime"


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics: the last matching pattern wins; `!` re-includes; a pattern
    matching a parent directory matches everything below it."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        if any(fnmatch.fnmatch(c, body) or (body.startswith("**/") and fnmatch.fnmatch(c.split("/")[-1], body[3:]))
               for c in candidates):
            ignored = not negate
    return ignored


def test_build_context_holds_sources_and_lock_but_no_tests_environments_or_secrets() -> None:
    patterns = [item.strip() for item in (REPO / ".dockerignore").read_text().splitlines()
                if item.strip() and not item.startswith("#")]
    for wanted in ("pyproject.toml", "uv.lock", "README.md", "app/main.py", "migrations/env.py",
                   "operator/storefront_operator/settings.py"):
        assert not _ignored(wanted, patterns), wanted
    for unwanted in ("tests/conftest.py", ".venv/bin/python", ".git/HEAD", "charts/storefront/values.yaml",
                     "hack/setup.sh", "app/__pycache__/main.cpython-311.pyc", "app/.env", "app/server.key",
                     "operator/Dockerfile", "bench/x.py"):
        assert _ignored(unwanted, patterns), unwanted
    # Every source the Dockerfiles copy from the context exists and is not ignored.
    for path in (APP, OPERATOR):
        for instruction, args in dockerfile_instructions(path):
            if instruction == "COPY" and "--from=" not in args:
                for source in args.split()[:-1]:
                    if "[" in source:  # optional files (glob)
                        continue
                    assert (REPO / source).exists(), f"{path.name}: COPY {source}"
                    assert not _ignored(source.rstrip("/"), patterns), f"{path.name}: {source} is ignored"
