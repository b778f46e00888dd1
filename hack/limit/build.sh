#!/usr/bin/env bash
# Builds the limit writer (main.go, on client-go) into a cache outside the
# repository, as hack/kube/build.sh builds the control plane: keyed by the
# client-go version and the sources, built only when missing. Prints the
# binary's path on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
client_go="$(awk '$1 == "k8s.io/client-go" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")"
sources="$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)"
cache_root="${SBO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/security-baseline-operator}"
dest="$cache_root/limit/client-go-${client_go}-${sources}"

if [[ -x "$dest/limit" ]]; then
  echo "$dest/limit"
  exit 0
fi
command -v go >/dev/null || { echo "build.sh: the Go toolchain is required (see README)" >&2; exit 1; }

mkdir -p "$dest"
staging="$(mktemp -d "$dest/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "build.sh: building the limit writer (client-go $client_go) into $dest" >&2
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$staging/limit" .) >&2
mv "$staging/limit" "$dest/limit"
echo "$dest/limit"
