# The two commands of the README: `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup run run-operator test test-fast reliability crds bench lint clean

setup:
	@hack/setup.sh

## Runs the API on loopback with its own PostgreSQL and Redis, a generated keyset and a seeded admin.
run: setup
	@$(PY) hack/run-local.py

## Also starts a local Kubernetes control plane, the operator, and applies a sample Storefront.
run-operator: setup
	@$(PY) hack/run-local.py --with-operator

## The whole suite against real PostgreSQL, Redis and a Kubernetes control plane.
test: setup
	@$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	@$(PY) -m pytest -m "not reliability and not slow" $(PYTEST_ARGS)

reliability: setup
	@$(PY) -m pytest -m reliability $(PYTEST_ARGS)

## Regenerates the CRD files from the operator's single source.
crds: setup
	@$(PY) -m storefront_operator.crd --write

## The linter alone (the test suite runs it too).
lint: setup
	@$(PY) -m ruff check .

bench: setup
	@$(PY) -m bench

clean:
	rm -rf .venv .pytest_cache
