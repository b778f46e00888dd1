#!/usr/bin/env bash
# podman with the settings this project's machines need, in one place for
# `make image`, hack/image/bases.sh and the image test. Run as root.
#  - the runc runtime: crun refuses a hybrid cgroup hierarchy (v1 controllers
#    with a v2 mount beside them), as this project's machines have:
#      crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2
#  - explicit ulimits on build, run and create: podman's defaults (1048576 open
#    files) are above the sandbox's hard limit (20000), and runc cannot start:
#      error setting rlimits for ready process: error setting rlimit type 7: operation not permitted
#    The operator holds a few dozen descriptors, far below 1024.
#  - the storage driver stays podman's choice: with no storage.conf (Debian's
#    default) it uses overlay where the kernel mounts it and falls back to vfs
#    where it cannot. PODMAN_STORAGE_DRIVER=vfs forces vfs; a storage root keeps
#    the driver it was made with, so forcing one needs a fresh root
#    (PODMAN_ROOT, PODMAN_RUNROOT) or `podman system reset`.
# Everything else is podman's own behaviour and configuration.
set -euo pipefail

command -v podman >/dev/null || {
  echo "podman.sh: podman is not installed (Debian: apt-get install podman runc)" >&2
  exit 127
}

global=(--runtime "${PODMAN_RUNTIME:-runc}")
[[ -n "${PODMAN_STORAGE_DRIVER:-}" ]] && global+=(--storage-driver "$PODMAN_STORAGE_DRIVER")
[[ -n "${PODMAN_ROOT:-}" ]] && global+=(--root "$PODMAN_ROOT")
[[ -n "${PODMAN_RUNROOT:-}" ]] && global+=(--runroot "$PODMAN_RUNROOT")

if [[ $# -eq 0 ]]; then exec podman "${global[@]}"; fi
command="$1"
shift
case "$command" in
  build | run | create)
    exec podman "${global[@]}" "$command" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@" ;;
  *)
    exec podman "${global[@]}" "$command" "$@" ;;
esac
