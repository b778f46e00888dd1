#!/usr/bin/env bash
# Builds toxiproxy-server (the TCP fault proxy of the fault tests, test/chaos/)
# from the Go module proxy (see go.mod) into a cache outside the repository,
# keyed by version, like hack/kube/build.sh. Builds only when missing; prints
# the path of the binary on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(awk '$1 == "github.com/Shopify/toxiproxy/v2" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")"
cache_root="${SBO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/security-baseline-operator}"
dest="$cache_root/toxiproxy/$version"
bin="$dest/toxiproxy-server"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: the Go toolchain is required (see README)" >&2; exit 1; }
mkdir -p "$dest"
staging="$(mktemp -d "$dest/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "build.sh: building toxiproxy-server $version into $dest" >&2
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$staging/toxiproxy-server" github.com/Shopify/toxiproxy/v2/cmd/server) >&2
mv "$staging/toxiproxy-server" "$bin"
echo "$bin"
