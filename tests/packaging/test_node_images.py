"""The node images (hack/build-node-images.sh) can be built with no registry: every Dockerfile
starts from the locally made base image (or the API image, or scratch), never from one that
would be pulled, and runs as the user the charts expect. Static checks only, no Docker: the
build itself is verified by running the script (docs/images.md)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging_support import LOCAL_VALUES, REPO, dockerfile_instructions, dockerfile_stages

BASE_IMAGE = "storefront-base:python3.11-bookworm"
LIB = REPO / "hack" / "lib" / "images.sh"
BUILD = REPO / "hack" / "build-node-images.sh"
NODE_DOCKERFILES = sorted((REPO / "images").glob("*/Dockerfile"))
E2E_DOCKERFILES = sorted((REPO / "tests" / "e2e" / "images").glob("*/Dockerfile"))
BROKEN = REPO / "tests" / "e2e" / "images" / "broken-migration"


def _id(path: Path) -> str:
    return str(path.parent.relative_to(REPO))


def test_there_are_node_and_test_images() -> None:
    assert {p.parent.name for p in NODE_DOCKERFILES} == {"postgresql", "redis", "pause", "traefik"}
    assert BROKEN / "Dockerfile" in E2E_DOCKERFILES


@pytest.mark.parametrize("path", NODE_DOCKERFILES + E2E_DOCKERFILES, ids=_id)
def test_no_image_is_ever_pulled(path: Path) -> None:
    """Every FROM is the base argument, an earlier stage or scratch; the arguments default to
    local images, never to a registry's or a `latest` tag."""
    instructions = dockerfile_instructions(path)
    text = path.read_text()
    assert "latest" not in text, f"{path}: no `latest` tag"
    assert "ADD" not in {i for i, _ in instructions}, f"{path}: ADD can fetch URLs; COPY only"
    args = dict(a.split("=", 1) for i, a in instructions if i == "ARG" and "=" in a)
    expected = {"BASE_IMAGE": BASE_IMAGE} if path in NODE_DOCKERFILES else {"APP_IMAGE": "storefront-app:local"}
    image_args = {k: v for k, v in args.items() if k.endswith("_IMAGE")}
    assert image_args == expected, path
    stages: set[str] = set()
    for header, _ in dockerfile_stages(path):
        base, *alias = header.split()
        assert base in {f"${{{name}}}" for name in expected} | stages | {"scratch"}, f"{path}: FROM {header}"
        if alias:
            assert alias[0].upper() == "AS" and len(alias) == 2, header
            stages.add(alias[1])


@pytest.mark.parametrize("path", NODE_DOCKERFILES + E2E_DOCKERFILES, ids=_id)
def test_images_run_as_the_chart_user_without_healthcheck(path: Path) -> None:
    final = dockerfile_stages(path)[-1][1]
    users = [args for instruction, args in final if instruction == "USER"]
    wanted = "65535:65535" if path.parent.name == "pause" else "10001:10001"
    assert users and users[-1] == wanted, f"{path}: the last USER must be {wanted}, not {users}"
    assert "HEALTHCHECK" not in {i for i, _ in dockerfile_instructions(path)}, "Kubernetes probes do that"


def test_the_lib_defaults_to_the_same_base_and_starts_docker_without_host_networking() -> None:
    lib = LIB.read_text()
    assert f'BASE_IMAGE="${{BASE_IMAGE:-{BASE_IMAGE}}}"' in lib
    # No iptables rules, no forwarding switched on, no docker0: the node's network is left alone.
    assert "dockerd --iptables=false --ip6tables=false --ip-forward=false --bridge=none" in lib
    assert "docker build --network host" in lib
    for script in ("build-images-offline.sh", "build-node-images.sh"):
        text = (REPO / "hack" / script).read_text()
        assert "source hack/lib/images.sh" in text, script
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        for command in ("debootstrap --", "dockerd --", "docker import"):
            assert command not in code, f"{script}: the daemon and the base image come from hack/lib/images.sh"


def test_scripts_parse() -> None:
    for script in (LIB, BUILD, REPO / "hack" / "build-images-offline.sh",
                   REPO / "images" / "postgresql" / "docker-entrypoint.sh"):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_postgresql_image_keeps_the_official_contract() -> None:
    dockerfile = REPO / "images" / "postgresql" / "Dockerfile"
    entrypoint = REPO / "images" / "postgresql" / "docker-entrypoint.sh"
    instructions = dockerfile_instructions(dockerfile)
    env = " ".join(a for i, a in instructions if i == "ENV")
    assert "PATH=/usr/lib/postgresql/15/bin:" in env, "pg_isready (the chart's probes) on PATH"
    run = " ".join(a for i, a in instructions if i == "RUN")
    assert "postgresql-15" in run and "libnss-wrapper" in run
    assert ("ENTRYPOINT", '["/usr/local/bin/docker-entrypoint.sh"]') in instructions
    assert ("CMD", '["postgres"]') in instructions
    assert entrypoint.stat().st_mode & 0o111, "the entrypoint is executable"
    script = entrypoint.read_text()
    for name in ("POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE", "PGDATA"):
        assert name in script, name
    assert "--auth-host=scram-sha-256" in script and "host all all all scram-sha-256" in script
    assert "listen_addresses = '*'" in script
    assert 'exec "$@"' in script, "postgres replaces the shell as PID 1"
    assert not re.search(r"^\s*set -\w*x", script, flags=re.M), "no tracing: it would log the password"
    assert "--pwfile=<(" in script, "the password never appears in a command line"


def test_redis_image_has_a_shell_and_a_writable_data_dir() -> None:
    instructions = dockerfile_instructions(REPO / "images" / "redis" / "Dockerfile")
    run = " ".join(a for i, a in instructions if i == "RUN")
    assert "redis-server redis-tools" in run
    assert "chown 10001:10001 /data" in run


def test_pause_image_is_static_and_alone() -> None:
    stages = dockerfile_stages(REPO / "images" / "pause" / "Dockerfile")
    assert stages[-1][0] == "scratch"
    final = stages[-1][1]
    assert ("COPY", "--from=builder /pause /pause") in final
    assert ("ENTRYPOINT", '["/pause"]') in final
    assert len([i for i, _ in final if i == "COPY"]) == 1
    builder = " ".join(a for i, a in stages[0][1] if i == "RUN")
    assert "-static" in builder
    assert "build/pause/linux/pause.c" in BUILD.read_text()


def _revisions(directory: Path) -> dict[str, tuple[str, str | None]]:
    """file name -> (revision, down_revision) of each migration file."""
    found = {}
    for path in sorted(directory.glob("*.py")):
        values = {}
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if node.targets[0].id in ("revision", "down_revision"):
                    values[node.targets[0].id] = ast.literal_eval(node.value)
        found[path.name] = (values["revision"], values.get("down_revision"))
    return found


def test_broken_migration_follows_the_current_head() -> None:
    """Else `alembic upgrade head` in the test image would fail for two heads, not for the
    broken SQL the tests mean."""
    repo = _revisions(REPO / "migrations" / "versions")
    downs = {down for _, down in repo.values()}
    heads = [(name, rev) for name, (rev, _) in repo.items() if rev not in downs]
    assert len(heads) == 1, heads
    head_file, head = heads[0]
    broken = _revisions(BROKEN)
    assert len(broken) == 1
    [(name, (revision, down))] = broken.items()
    assert down == head, f"{name} revises {down}; the head is now {head}: renumber it after {head_file}"
    assert name not in repo and revision not in {rev for rev, _ in repo.values()}
    assert int(name[:4]) == int(head_file[:4]) + 1, "it follows the files' numbering"
    copy = next(a for i, a in dockerfile_instructions(BROKEN / "Dockerfile") if i == "COPY")
    assert copy == f"{name} /app/migrations/versions/{name}"


def test_the_schema_images_extend_the_current_head_in_one_chain() -> None:
    """schema-expand adds one revision after the head; schema-contract carries the same file
    and two more (a drop held for approval, then a post-deployment one), each COPY'd."""
    repo = _revisions(REPO / "migrations" / "versions")
    downs = {down for _, down in repo.values()}
    [head] = [rev for rev, _ in repo.values() if rev not in downs]
    expand_dir, contract_dir = BROKEN.parent / "schema-expand", BROKEN.parent / "schema-contract"
    expand, contract = _revisions(expand_dir), _revisions(contract_dir)
    [(first_file, (first, down))] = expand.items()
    assert down == head, f"{first_file} revises {down}; the head is now {head}"
    assert (expand_dir / first_file).read_text() == (contract_dir / first_file).read_text()
    chain, previous = [], first
    for name, (rev, down) in sorted(contract.items())[1:]:
        assert down == previous, name
        chain.append(rev)
        previous = rev
    assert len(chain) == 2 and "post_deployment = True" in (contract_dir / sorted(contract)[-1]).read_text()
    for directory, files in ((expand_dir, expand), (contract_dir, contract)):
        copies = [a for i, a in dockerfile_instructions(directory / "Dockerfile") if i == "COPY"]
        assert copies == [f"{name} /app/migrations/versions/{name}" for name in sorted(files)]


def test_local_values_use_the_images_the_script_builds() -> None:
    values = yaml.safe_load(LOCAL_VALUES.read_text())
    script = BUILD.read_text()
    assert 'TAG="${TAG:-local}"' in script and values["image"]["tag"] == "local"
    for store in ("postgresql", "redis"):
        image = values["development"][store]["image"]
        assert f'"{image["repository"]}:{image["tag"]}"' in script, store
