#!/usr/bin/env bash
# Writes the CRDs from their one source (operator/storefront_operator/crd.py) to the chart and k8s/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
for dir in charts/storefront-operator/crds k8s/crds; do
  mkdir -p "$dir"
  "$PY" -m storefront_operator.crd storefront > "$dir/storefronts.platform.storefront.dev.yaml"
  "$PY" -m storefront_operator.crd peering > "$dir/kopf-peering.yaml"
done
