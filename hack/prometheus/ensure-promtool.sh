#!/usr/bin/env bash
# Prints the path of promtool (Prometheus's rule checker and rule unit-test
# runner), installing Debian's `prometheus` package, which ships it, when none
# is found. $PROMTOOL, when set, wins. Everything but the path goes to stderr,
# so `PROMTOOL=$(hack/prometheus/ensure-promtool.sh)` works.
set -euo pipefail

if [[ -n "${PROMTOOL:-}" ]]; then
  [[ -x "$PROMTOOL" ]] || { echo "PROMTOOL=$PROMTOOL is not an executable" >&2; exit 1; }
  echo "$PROMTOOL"
  exit 0
fi
if command -v promtool >/dev/null; then
  command -v promtool
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "promtool not found: install Debian's prometheus package (apt-get install prometheus)," \
    "or put a promtool on PATH, or set PROMTOOL to one" >&2
  exit 1
fi
echo "promtool not found: installing Debian's prometheus package" >&2
apt-get update -qq >&2
# No recommends: only promtool is wanted, not node-exporter and its collectors.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
command -v promtool
