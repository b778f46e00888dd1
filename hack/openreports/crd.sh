#!/usr/bin/env bash
# Fetches the OpenReports API module pinned in go.mod through the Go module
# proxy (checked against go.sum) and copies its Report CRD into a cache outside
# the repository, keyed by version, as hack/kube/build.sh caches the control
# plane. Prints the path of the CRD on stdout. Used by the tests and the
# benchmark; to try reports on a cluster: kubectl apply -f "$(hack/openreports/crd.sh)".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module=github.com/openreports/reports-api
version="$(awk -v m="$module" '$1 == "require" && $2 == m {print $3; exit}' "$here/go.mod")"
cache_root="${SBO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/security-baseline-operator}"
dest="$cache_root/openreports/$version/openreports.io_reports.yaml"

if [[ -s "$dest" ]]; then
  echo "$dest"
  exit 0
fi
command -v go >/dev/null || { echo "crd.sh: the Go toolchain is required (see README)" >&2; exit 1; }

dir="$(cd "$here" && go mod download -json "$module" | awk -F'"' '$2 == "Dir" {print $4}')"
[[ -n "$dir" && -s "$dir/config/crd/openreports.io_reports.yaml" ]] \
  || { echo "crd.sh: $module $version has no config/crd/openreports.io_reports.yaml" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
cp "$dir/config/crd/openreports.io_reports.yaml" "$dest.tmp"
chmod 0644 "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "$dest"
