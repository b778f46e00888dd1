#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go
# module proxy (see go.mod) into a cache outside the repository, keyed by
# version. Builds only what is missing; prints the cache directory on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kube_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")"
cache_root="${SBO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/security-baseline-operator}"
dest="$cache_root/kube/${kube_version}-etcd${etcd_version}"

declare -A packages=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [etcd]=go.etcd.io/etcd/server/v3
)

missing=()
for bin in "${!packages[@]}"; do
  [[ -x "$dest/$bin" ]] || missing+=("$bin")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "$dest"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: the Go toolchain is required (see README)" >&2; exit 1; }

# The version strings that `kubectl version` and /version report; the build
# has no git checkout, so the commit is left empty and the tree called clean.
minor="${kube_version#v1.}"; minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

mkdir -p "$dest"
staging="$(mktemp -d "$dest/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

echo "build.sh: building ${missing[*]} (Kubernetes $kube_version, etcd $etcd_version) into $dest" >&2
start=$SECONDS
for bin in "${missing[@]}"; do
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$staging/$bin" "${packages[$bin]}") >&2
  mv "$staging/$bin" "$dest/$bin"
  echo "build.sh: $bin built ($((SECONDS - start))s so far)" >&2
done
echo "$dest"
