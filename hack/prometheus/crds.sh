#!/usr/bin/env bash
# Prints the directory holding prometheus-operator's CustomResourceDefinitions
# (monitoring.coreos.com_servicemonitors.yaml, ..._prometheusrules.yaml, ...),
# taken from the prometheus-operator Go module through the Go module proxy and
# kept in the Go module cache, so only the first run downloads anything.
#
# The version is pinned: the CRDs' schemas are what the tests check
# config/prometheus against. PROMETHEUS_OPERATOR_VERSION overrides it.
# (v0.95.x is not served by every module proxy; v0.94.1 is.)
set -euo pipefail

module=github.com/prometheus-operator/prometheus-operator
version=${PROMETHEUS_OPERATOR_VERSION:-v0.94.1}

command -v go >/dev/null || { echo "crds.sh: Go is required to fetch the $module module" >&2; exit 1; }

# Outside any module, so that no go.mod is read or changed.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! json=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$module@$version"); then
  echo "crds.sh: could not download $module@$version:" >&2
  echo "$json" >&2
  exit 1
fi
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
crds=$dir/example/prometheus-operator-crd
for kind in servicemonitors prometheusrules; do
  [[ -f $crds/monitoring.coreos.com_$kind.yaml ]] || { echo "crds.sh: $crds has no monitoring.coreos.com_$kind.yaml" >&2; exit 1; }
done
echo "$crds"
