#!/usr/bin/env bash
# Compatibility check: the Python `kubernetes` client (PyPI, `pip install kubernetes`) against
# a `keel up` cluster's api-servers. Runs tests/compat/kube_client.py with the kubeconfig
# `keel up` writes.
#
# Usage: tests/compat/kube_python.sh [path/to/keel]   (default: target/release/keel)
# Ports: KEEL_COMPAT_PORT (default 16379) .. +5 for the store, +10 .. +12 for the api-servers
# (below Linux's ephemeral range, so a client's local port never takes them).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
keel=${1:-$root/target/release/keel}
base=${KEEL_COMPAT_PORT:-16379}
python3 -c 'import kubernetes' || { echo "compat: pip install kubernetes" >&2; exit 1; }
[ -x "$keel" ] || { echo "compat: $keel is not built" >&2; exit 1; }

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${KEEL_COMPAT_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

"$keel" up --data-dir "$work/keel" \
  --client-ports "$base,$((base + 1)),$((base + 2))" \
  --peer-ports "$((base + 3)),$((base + 4)),$((base + 5))" \
  --apiserver-ports "$((base + 10)),$((base + 11)),$((base + 12))" >"$work/keel.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q "cluster ready; kubectl with" "$work/keel.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/keel.log" >&2; exit 1; }
  sleep 0.2
done
grep -q "cluster ready; kubectl with" "$work/keel.log" || { echo "compat: keel up never became ready" >&2; tail -50 "$work/keel.log" >&2; exit 1; }
if ! python3 "$root/tests/compat/kube_client.py" "$work/keel/kubeconfig"; then
  echo "compat: the Python client failed; keel up's log:" >&2
  tail -80 "$work/keel.log" >&2
  exit 1
fi
