#!/usr/bin/env bash
# Makes sure Prometheus and Alertmanager (Debian's `prometheus` and
# `prometheus-alertmanager` packages) are installed, for the test that sends
# the operator's alerts through both (test/e2e/alerts.test.ts). Prints the
# two binaries' paths, one per line; everything else goes to stderr.
# $PROMETHEUS and $ALERTMANAGER, when set, win.
set -euo pipefail

prometheus=${PROMETHEUS:-$(command -v prometheus || true)}
alertmanager=${ALERTMANAGER:-$(command -v prometheus-alertmanager || command -v alertmanager || true)}
packages=()
[[ -n $prometheus ]] || packages+=(prometheus)
[[ -n $alertmanager ]] || packages+=(prometheus-alertmanager)

if [[ ${#packages[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing ${packages[*]}: install Debian's package(s) (apt-get install ${packages[*]})," \
      "or set PROMETHEUS / ALERTMANAGER to the binaries" >&2
    exit 1
  fi
  echo "installing Debian's ${packages[*]}" >&2
  # The packages start their daemons on install, listening on every
  # interface: the tests start their own on loopback, so keep them from
  # starting (policy-rc.d, as in container images), unless a policy exists.
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=true
  fi
  trap 'if [[ $own_policy == true ]]; then rm -f "$policy"; fi' EXIT
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
  prometheus=${PROMETHEUS:-$(command -v prometheus)}
  alertmanager=${ALERTMANAGER:-$(command -v prometheus-alertmanager)}
fi
echo "$prometheus"
echo "$alertmanager"
