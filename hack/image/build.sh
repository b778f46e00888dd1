#!/usr/bin/env bash
# Builds the operator image from the project's Dockerfile with podman:
#   hack/image/build.sh IMAGE
# BASES=local (default) builds on the stand-in bases that hack/image/bases.sh
# makes from Debian's archive and the npm registry; BASES=published builds on
# the Dockerfile's own defaults, pulled from their registries (for a release).
# podman's layer cache makes an unchanged rebuild a matter of seconds: only the
# steps whose inputs changed run again.
#
# With --optional (what `make test` uses), a machine where podman cannot run at
# all is not an error: the reason is printed and the image test skips, saying
# the same. Any other failure fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
podman="$here/podman.sh"

optional=false
if [[ "${1:-}" == --optional ]]; then optional=true; shift; fi
image="${1:?usage: hack/image/build.sh [--optional] IMAGE}"
bases="${BASES:-local}"

if ! reason="$("$podman" info --format '{{.Host.OCIRuntime.Name}}' 2>&1 >/dev/null)"; then
  reason="podman cannot run here: ${reason:-podman info failed}"
  if $optional; then
    echo "image: SKIPPED, $reason" >&2
    exit 0
  fi
  echo "image: $reason" >&2
  exit 1
fi

start=$SECONDS
build_args=(--build-arg "VERSION=$(node -p "require('$root/package.json').version")")
case "$bases" in
  local)
    refs="$("$here/bases.sh")"
    build_args+=(--build-arg "BUILD_IMAGE=$(sed -n 1p <<<"$refs")" --build-arg "RUNTIME_IMAGE=$(sed -n 2p <<<"$refs")")
    ;;
  published) ;;
  *) echo "image: BASES must be local or published, not $bases" >&2; exit 1 ;;
esac
bases_done=$SECONDS

# --network host: the build stage's `npm ci` reaches the registry the way this
# machine does, with no container network to set up. The build's own output
# goes to a log, shown when it fails.
log="$root/.dev/image-build.log"
mkdir -p "$(dirname "$log")"
if ! "$podman" build --network host "${build_args[@]}" --tag "$image" "$root" >"$log" 2>&1; then
  tail -40 "$log" >&2
  echo "image: the build failed (whole log: $log)" >&2
  exit 1
fi
echo "image: $image built on $bases bases in $((SECONDS - start))s (bases $((bases_done - start))s," \
  "build $((SECONDS - bases_done))s, $(grep -c -- '--> Using cache' "$log") steps cached):" \
  "$("$podman" image inspect --format '{{.Id}} {{.Size}}' "$image" | cut -c1-12,65-) bytes" >&2
