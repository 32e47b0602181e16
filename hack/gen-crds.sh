#!/usr/bin/env bash
# Writes the CRDs from their one source (operator/storefront_operator/crd.py) to the chart and k8s/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m storefront_operator.crd --write .
