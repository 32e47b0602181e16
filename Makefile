# The two commands of the README: `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST_ARGS ?=
# `make test` runs on two xdist workers: one takes the suites that run pods on the machine's one
# node (marker `node`: the developer loop, tests/e2e, make run-operator), in order; the other
# takes the rest of the suite meanwhile. TEST_WORKERS=0 runs it all in one process.
TEST_WORKERS ?= 2

.PHONY: setup setup-kube setup-all setup-test setup-test-fast run run-operator devloop test test-fast reliability crds bench lint clean

# What each target builds: the API alone needs no Kubernetes binaries.
setup:
	@hack/setup.sh

setup-kube:
	@hack/setup.sh control-plane helm kind

setup-all:
	@hack/setup.sh all

# The suites also render /docs in a headless Chromium; promtool checks the alerts and dashboards;
# a real Prometheus and Jaeger (make test only) check the dashboards' queries and one order's trace.
# Those three are built beside the run when missing (BACKGROUND_TOOLS): only their tests need them.
BACKGROUND_TOOLS ?= promtool prometheus jaeger
setup-test:
	@hack/setup.sh all browser

setup-test-fast:
	@hack/setup.sh control-plane helm kind browser promtool

## Runs the API on loopback with its own PostgreSQL and Redis, a generated keyset and a seeded admin.
run: setup
	@$(PY) hack/run-local.py

## Also starts a local Kubernetes control plane, the operator, and applies a sample Storefront.
run-operator: setup-all
	@$(PY) hack/run-local.py --with-operator

## The developer loop with no registry: a one-node cluster pulling from a registry on loopback;
## prints the `skaffold dev -p node ...` command to run next (docs/kind.md).
devloop: setup-all
	@$(PY) hack/devloop.py

## The whole suite against real PostgreSQL, Redis and a Kubernetes control plane.
test: setup-test
	@STOREFRONT_BACKGROUND_TOOLS="$(BACKGROUND_TOOLS)" $(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder) $(PYTEST_ARGS)

test-fast: setup-test-fast
	@$(PY) -m pytest -m "not reliability and not slow" $(PYTEST_ARGS)

reliability: setup-kube
	@$(PY) -m pytest -m reliability $(PYTEST_ARGS)

## Regenerates the CRD files from the operator's single source.
crds: setup
	@$(PY) -m storefront_operator.crd --write

## The linter alone (the test suite runs it too).
lint: setup
	@$(PY) -m ruff check .

bench: setup-all
	@$(PY) -m bench

clean:
	rm -rf .venv .pytest_cache
