#!/usr/bin/env bash
# Makes local stand-ins for the Dockerfile's two base images, for machines that
# reach Debian's archive and the npm registry but no container registry:
#
#   build stage    node:24-bookworm-slim                      -> localhost/stand-in/node:<node>-bookworm-slim
#   runtime stage  gcr.io/distroless/nodejs24-debian12:nonroot -> localhost/stand-in/distroless/nodejs24-debian12:<node>-nonroot
#
# Both come from one Debian bookworm root filesystem (debootstrap, minbase) and
# the official Node.js binary of the `node` version package.json pins, from the
# npm registry (the node-linux-<arch> package the `node` package installs).
#  - build: the Debian root filesystem with Node.js and the npm that Node.js
#    release bundles in /usr/local, as the official image has them, and the
#    machine's own extra CAs (see make_build).
#  - runtime: what distroless puts in nodejs24-debian12, taken from the same
#    Debian packages (base-files, netbase, tzdata, the CA bundle, libc6,
#    libssl3, libgcc-s1, libstdc++6, libgomp1, gcc-12-base), its users (root,
#    nobody, nonroot 65532) and Node.js at /nodejs/bin/node. No shell, no
#    package manager, no npm.
#
# The root filesystems are cached as tarballs in
# ~/.cache/security-baseline-operator/image/ (override with SBO_CACHE_DIR),
# keyed by Debian release, Node.js version, architecture and the local CAs, and
# made only when missing; each is imported into podman's storage unless podman
# already holds an image of that very tarball. Prints the two image references
# on stdout, build first;
# everything else goes to stderr. Needs root (debootstrap) and podman.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
podman=("$here/podman.sh")

release=bookworm # the Debian release of node:24-bookworm-slim and of distroless's debian12
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
node_version="$(node -p "require('$root/package.json').devDependencies.node")"
[[ "$node_version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "bases.sh: no exact \"node\" devDependency version in package.json" >&2; exit 1; }
node_major="${node_version%%.*}"
case "$(uname -m)" in
  x86_64) deb_arch=amd64 node_arch=x64 ;;
  aarch64) deb_arch=arm64 node_arch=arm64 ;;
  *) echo "bases.sh: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

# Local certificate authorities are part of the key: see make_build.
local_cas=/usr/local/share/ca-certificates
cas_key="$(cat "$local_cas"/*.crt 2>/dev/null | sha256sum | cut -c1-8)"
cache_root="${SBO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/security-baseline-operator}"
dest="$cache_root/image/stand-in-bases-$release-node$node_version-$deb_arch-ca$cas_key"
build_ref="localhost/stand-in/node:$node_version-$release-slim"
runtime_ref="localhost/stand-in/distroless/nodejs$node_major-debian12:$node_version-nonroot"

log() { echo "bases.sh: $*" >&2; }

make_root_filesystems() {
  command -v debootstrap >/dev/null || { log "debootstrap is not installed (Debian: apt-get install debootstrap)"; exit 1; }
  [[ $(id -u) -eq 0 ]] || { log "debootstrap needs root"; exit 1; }
  mkdir -p "$dest"
  local work
  work="$(mktemp -d "$dest/.work.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: the trap must remove this directory
  trap "rm -rf '$work'" EXIT
  local start=$SECONDS

  log "debootstrap $release ($deb_arch) from $mirror"
  debootstrap --variant=minbase --arch="$deb_arch" \
    --include=ca-certificates,libssl3,libgomp1,netbase,tzdata \
    "$release" "$work/debian" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  log "debootstrap done ($((SECONDS - start))s)"

  # Node.js from the npm registry, as `npm ci` installs it for development, and
  # the npm that this Node.js release bundles: its changelog is newest first,
  # so the first npm upgrade it names is the one the release ships.
  mkdir -p "$work/npm"
  (cd "$work/npm" && npm pack --silent "node-linux-$node_arch@$node_version" >/dev/null)
  tar -C "$work/npm" -xzf "$work/npm/node-linux-$node_arch-$node_version.tgz"
  mv "$work/npm/package" "$work/node"
  local npm_version
  npm_version="$(grep -m1 -o 'upgrade npm to [0-9][0-9.]*[0-9]' "$work/node/CHANGELOG.md" | awk '{print $4}')"
  [[ -n "$npm_version" ]] || { log "cannot tell which npm Node.js $node_version bundles"; exit 1; }
  (cd "$work/npm" && npm pack --silent "npm@$npm_version" >/dev/null)
  tar -C "$work/npm" -xzf "$work/npm/npm-$npm_version.tgz"
  log "Node.js $node_version and npm $npm_version from the npm registry ($((SECONDS - start))s)"

  make_runtime "$work"
  make_build "$work" "$npm_version"
  log "root filesystems cached in $dest ($((SECONDS - start))s)"
}

save_tarball() {
  tar -C "$1" --numeric-owner -cf "$2.partial" .
  sha256sum <"$2.partial" | cut -d' ' -f1 >"$2.sha256"
  mv "$2.partial" "$2"
}

# The runtime stand-in, before make_build changes the Debian tree.
make_runtime() {
  local work="$1" rootfs="$1/runtime" info="$1/debian/var/lib/dpkg/info"
  mkdir -p "$rootfs"
  # bookworm is merged-/usr: the packages name /lib/..., the files live in /usr/lib/...
  for dir in bin lib lib64 sbin; do mkdir -p "$rootfs/usr/$dir" && ln -s "usr/$dir" "$rootfs/$dir"; done
  local package list files="$work/runtime-files"
  : >"$files"
  for package in base-files netbase tzdata libc6 libssl3 libgcc-s1 libstdc++6 libgomp1 gcc-12-base; do
    list="$info/$package.list"
    [[ -f "$list" ]] || list="$info/$package:$deb_arch.list"
    [[ -f "$list" ]] || { log "package $package is missing from the Debian tree"; exit 1; }
    # Files and symbolic links only; tar makes the directories they need.
    while IFS= read -r path; do
      if [[ -L "$work/debian$path" || -f "$work/debian$path" ]]; then echo ".$path"; fi
    done <"$list" >>"$files"
  done
  # The CA bundle, not the ca-certificates package (which would bring openssl
  # and its scripts): distroless does the same.
  echo ./etc/ssl/certs/ca-certificates.crt >>"$files"
  echo ./usr/share/doc/ca-certificates/copyright >>"$files"
  tar -C "$work/debian" --no-recursion -cf - -T "$files" | tar -C "$rootfs" --keep-directory-symlink -xf -

  mkdir -p "$rootfs/etc" "$rootfs/nodejs/bin" "$rootfs/home/nonroot" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  chown 65532:65532 "$rootfs/home/nonroot"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >"$rootfs/etc/group"
  echo 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
  cp "$work/node/bin/node" "$rootfs/nodejs/bin/node"
  cp "$work/node/LICENSE" "$rootfs/nodejs/LICENSE"

  # What makes it distroless: nothing to start a shell or install a package with.
  local found
  found="$(cd "$rootfs" && find . ! -type d \( -name sh -o -name bash -o -name dash -o -name dpkg -o -name apt -o -name apt-get -o -name npm \) -print)"
  [[ -z "$found" ]] || { log "the runtime stand-in must not contain: $found"; exit 1; }
  save_tarball "$rootfs" "$dest/runtime.tar"
}

make_build() {
  local work="$1" npm_version="$2" rootfs="$1/debian"
  install -m 0755 "$work/node/bin/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  mv "$work/npm/package" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # The certificate authorities this machine adds to Debian's (where Debian
  # keeps local ones), so that npm in the build stage reaches the registry
  # through the same TLS-inspecting proxy the machine's own npm goes through.
  # Only the build stand-in gets them; the runtime keeps Debian's bundle.
  if compgen -G "$local_cas/*.crt" >/dev/null; then
    cp "$local_cas"/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
    touch "$dest/local-cas"
  fi
  # The official image's user, and its slimming: no package lists, no caches.
  echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$rootfs/etc/passwd"
  echo 'node:x:1000:' >>"$rootfs/etc/group"
  echo 'node:*:19000:0:99999:7:::' >>"$rootfs/etc/shadow"
  mkdir -p "$rootfs/home/node" && chown 1000:1000 "$rootfs/home/node"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  echo "$npm_version" >"$dest/npm-version"
  save_tarball "$rootfs" "$dest/build.tar"
}

# Imports a root filesystem tarball as the stand-in for a published image,
# unless podman already holds this very tarball under that reference (an
# imported image's one layer is the tarball, so their digests are the same).
import_image() {
  local tarball="$1" ref="$2" published="$3"
  shift 3
  local previous
  previous="$("${podman[@]}" image inspect --format '{{.Id}} {{index .RootFS.Layers 0}}' "$ref" 2>/dev/null || true)"
  [[ "${previous#* }" == "sha256:$(cat "$tarball.sha256")" ]] && return
  log "importing $ref (stand-in for $published)"
  "${podman[@]}" import --quiet --change "LABEL dev.security-baseline.stand-in-for=$published" "$@" "$tarball" "$ref" >/dev/null
  # The image it replaces, now untagged.
  if [[ -n "$previous" ]]; then "${podman[@]}" rmi "${previous%% *}" >/dev/null 2>&1 || true; fi
}

if [[ ! -f "$dest/runtime.tar.sha256" || ! -f "$dest/build.tar.sha256" ]]; then
  make_root_filesystems
fi
build_changes=()
if [[ -f "$dest/local-cas" ]]; then build_changes+=(--change "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"); fi
import_image "$dest/build.tar" "$build_ref" "node:$node_major-$release-slim" "${build_changes[@]}" \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'CMD ["node"]'
import_image "$dest/runtime.tar" "$runtime_ref" "gcr.io/distroless/nodejs$node_major-debian12:nonroot" \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
  --change "USER 65532" \
  --change "WORKDIR /home/nonroot" \
  --change 'ENTRYPOINT ["/nodejs/bin/node"]'
echo "$build_ref"
echo "$runtime_ref"
