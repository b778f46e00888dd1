#!/usr/bin/env bash
# Builds the helm CLI from the Go module proxy (see go.mod) into a cache outside
# the repository, keyed by version, as hack/kube/build.sh builds the control
# plane. Builds only when it is missing; prints the path of helm on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
helm_version="$(awk '$1 == "helm.sh/helm/v4" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")"
[[ -n "$helm_version" ]] || { echo "build.sh: no helm.sh/helm/v4 version in $here/go.mod" >&2; exit 1; }
cache_root="${SBO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/security-baseline-operator}"
dest="$cache_root/helm/$helm_version"

if [[ -x "$dest/helm" ]]; then
  echo "$dest/helm"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: the Go toolchain is required (see README)" >&2; exit 1; }

# The version `helm version` reports, as helm's own Makefile sets it for a
# release tag; the build has no git checkout, so the tree is called clean.
pkg=helm.sh/helm/v4/internal/version
ldflags="-s -w -X $pkg.version=$helm_version -X $pkg.metadata= -X $pkg.gitTreeState=clean"

mkdir -p "$dest"
staging="$(mktemp -d "$dest/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

echo "build.sh: building helm $helm_version into $dest" >&2
start=$SECONDS
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$staging/helm" helm.sh/helm/v4/cmd/helm) >&2
mv "$staging/helm" "$dest/helm"
echo "build.sh: helm built in $((SECONDS - start))s" >&2
echo "$dest/helm"
