#!/usr/bin/env bash
# Compatibility check: Debian's etcdctl (v3.4) drives a `keel up` cluster and a real etcd with
# the same scenario; the outputs must be the same. Only what necessarily differs between two
# clusters is normalised: member/cluster ids, raft terms, db sizes, timings.
#
# Usage: tests/compat/etcdctl.sh [path/to/keel]   (default: target/release/keel)
# Ports: KEEL_COMPAT_PORT (default 14379) .. +5 for keel up; +10, +11 for etcd; +20, +21 for a
# single Keel member that keelctl (when built next to keel) is checked against. They stay below
# Linux's ephemeral range (32768-60999): a fixed port inside it can be taken by some client's
# local port, or by a peer's connection to itself while the member is still starting.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
keel=${1:-$root/target/release/keel}
base=${KEEL_COMPAT_PORT:-14379}
export ETCDCTL_API=3

for tool in etcd etcdctl python3; do
  command -v "$tool" >/dev/null || { echo "compat: $tool is not installed" >&2; exit 1; }
done
[ -x "$keel" ] || { echo "compat: $keel is not built" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

keel_eps="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
etcd_ep="127.0.0.1:$((base + 10))"

"$keel" up --data-dir "$work/keel" \
  --client-ports "$base,$((base + 1)),$((base + 2))" \
  --peer-ports "$((base + 3)),$((base + 4)),$((base + 5))" >"$work/keel.log" 2>&1 &
pids+=($!)
etcd --name e1 --data-dir "$work/etcd" \
  --listen-client-urls "http://$etcd_ep" --advertise-client-urls "http://$etcd_ep" \
  --listen-peer-urls "http://127.0.0.1:$((base + 11))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((base + 11))" \
  --initial-cluster "e1=http://127.0.0.1:$((base + 11))" >"$work/etcd.log" 2>&1 &
pids+=($!)

wait_ready() { # endpoints
  for _ in $(seq 1 150); do
    if etcdctl --endpoints "$1" --dial-timeout 1s endpoint health >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "compat: $1 never became healthy" >&2
  tail -50 "$work/keel.log" "$work/etcd.log" >&2
  exit 1
}
# A second, single-member Keel, fresh for the keelctl pass.
keel_single="127.0.0.1:$((base + 20))"
"$keel" store --name s1 --data-dir "$work/keel-single" \
  --listen-client-urls "http://$keel_single" --advertise-client-urls "http://$keel_single" \
  --listen-peer-urls "http://127.0.0.1:$((base + 21))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((base + 21))" >"$work/keel-single.log" 2>&1 &
pids+=($!)

echo "compat: waiting for the clusters to be ready" >&2
wait_ready "$keel_eps"
wait_ready "$etcd_ep"
wait_ready "$keel_single"

# The scenario: every command a user's script is likely to run, in all three output formats.
scenario() { # endpoints [client]
  local e="$1" client="${2:-etcdctl}"
  run() { echo "\$ etcdctl $*"; "$client" --endpoints "$e" "$@" 2>&1 | grep -v '"level":"warn"' || echo "(exit $?)"; }
  run put foo bar
  run put foo2 bar2 --prev-kv
  run put foo baz --prev-kv
  run put fop x
  run put a/1 one
  run put a/2 two
  run put a/3 three
  run get foo
  run get foo -w json
  run get foo --print-value-only
  run get --prefix a/
  run get --prefix a/ --keys-only
  run get --prefix a/ --limit 2 -w json
  run get --prefix a/ --sort-by=MODIFY --order=DESCEND
  run get --prefix a/ --sort-by=VALUE --order=ASCEND
  run get --from-key a/2
  run get foo --rev 2
  run get foo --rev 2 -w json
  run get foo --consistency s
  run get --prefix "" --limit 1 --keys-only -w json
  run get missing
  run get missing -w json
  run get foo fop
  run del a/3
  run del a/ --prefix --prev-kv
  run del nothing
  run put foo qux --ignore-value
  run get foo -w json
  run put newkey v --ignore-value
  run put "" v
  echo 'mod("foo") > "0"

put txn/ok 1
get foo

put txn/failed 1
' | run txn
  echo 'value("foo") = "nope"

put txn/ok 2

get foo
del fop
' | run txn -w json
  echo 'create("never") = "0"
version("foo") != "1"

put txn/second 1

' | run txn
  run get --prefix txn/
  run compaction 5
  run get foo --rev 4
  run compaction 5
  run get foo --rev 1000
  run get foo --rev 6 -w json
  run member list -w json >/dev/null
  # Watch: replay from a past revision (with and without prev_kv), then a live prefix watch.
  watch_for() { echo "\$ etcdctl watch $*"; timeout 2 "$client" --endpoints "$e" watch "$@" 2>&1 | grep -v '"level":"warn"' || true; }
  watch_for --prefix a/ --rev 6
  watch_for --prefix a/ --rev 6 --prev-kv
  watch_for foo --rev 4
  watch_for foo --rev 4 -w json
  watch_for b a
  echo "\$ etcdctl watch --prefix live/ (while writing)"
  timeout 3 "$client" --endpoints "$e" watch --prefix live/ --prev-kv >"$work/live-watch.out" 2>&1 &
  local watcher=$!
  sleep 0.5
  etcdctl --endpoints "$e" put live/1 one >/dev/null
  etcdctl --endpoints "$e" put live/1 uno >/dev/null
  etcdctl --endpoints "$e" put elsewhere x >/dev/null
  etcdctl --endpoints "$e" del live/1 >/dev/null
  wait "$watcher" || true
  cat "$work/live-watch.out"
  # Leases: ids are random, so they are normalised below.
  local lease
  lease=$("$client" --endpoints "$e" lease grant 100 | awk '{print $2}')
  echo "\$ etcdctl lease grant 100"
  run lease timetolive "$lease"
  run put leased v --lease="$lease"
  run put leased2 v2 --lease="$lease"
  run lease timetolive "$lease" --keys
  run lease list
  run lease keep-alive --once "$lease"
  run lease revoke "$lease"
  run get --prefix leased
  run lease timetolive "$lease"
  run lease revoke "$lease"
  run put orphan v --lease=1234abcd
}

normalise() {
  python3 -c '
import re, sys
text = sys.stdin.read()
for field in ("cluster_id", "member_id", "raft_term"):
    text = re.sub(r"\"%s\":\d+" % field, "\"%s\":N" % field, text)
# Lease ids are chosen at random; remaining TTLs depend on timing.
text = re.sub(r"\b[0-9a-f]{16}\b", "LEASE", text)
text = re.sub(r"lease timetolive \S+", "lease timetolive LEASE", text)
text = re.sub(r"(keep-alive --once|revoke) [0-9a-f]+", r"\1 LEASE", text)
text = re.sub(r"--lease=[0-9a-f]{16}", "--lease=LEASE", text)
text = re.sub(r"remaining\(\d+s\)", "remaining(Ns)", text)
# etcd lists the keys of a lease in Go map order (random): compare them sorted.
text = re.sub(r"attached keys\(\[([^]]*)\]\)",
              lambda m: "attached keys([%s])" % " ".join(sorted(m.group(1).split())), text)
print(text, end="")
'
}

echo "compat: running the scenario with etcdctl against keel up" >&2
scenario "$keel_eps" | normalise >"$work/keel.out"
echo "compat: running the scenario with etcdctl against etcd" >&2
scenario "$etcd_ep" | normalise >"$work/etcd.out"
if ! diff -u "$work/etcd.out" "$work/keel.out"; then
  echo "compat: FAILED: etcdctl output against Keel differs from etcd (- etcd, + keel)" >&2
  exit 1
fi
echo "compat: KV, watch and lease scenario identical to etcd ($(grep -c '^\$ etcdctl' "$work/keel.out") commands)"

# keelctl must print what etcdctl prints, against Keel too.
keelctl="$(dirname "$keel")/keelctl"
if [ -x "$keelctl" ]; then
  echo "compat: running the scenario with keelctl against keel" >&2
  scenario "$keel_single" "$keelctl" | normalise >"$work/keelctl.out"
  if ! diff -u "$work/keel.out" "$work/keelctl.out"; then
    echo "compat: FAILED: keelctl output differs from etcdctl's (- etcdctl, + keelctl)" >&2
    exit 1
  fi
  echo "compat: keelctl prints the same as etcdctl for the whole scenario"
fi

# Cluster-level commands: ids, sizes and the leader differ by nature; check the shape.
check() { # description, command output, regex every line must match
  local what="$1" out="$2" pattern="$3"
  if [ -z "$out" ] || echo "$out" | grep -Evq "$pattern"; then
    echo "compat: FAILED: $what" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "compat: $what ok"
}
clients=(etcdctl)
[ -x "$keelctl" ] && clients+=("$keelctl")
for client in "${clients[@]}"; do
  members=$("$client" --endpoints "$keel_eps" member list)
  check "$(basename "$client") member list (3 started members with client URLs)" "$members" \
    '^[0-9a-f]+, started, m[123], http://127\.0\.0\.1:[0-9]+, http://127\.0\.0\.1:[0-9]+, false$'
  [ "$(echo "$members" | wc -l)" -eq 3 ] || { echo "compat: FAILED: expected 3 members" >&2; exit 1; }
  status=$("$client" --endpoints "$keel_eps" endpoint status)
  check "$(basename "$client") endpoint status" "$status" \
    '^127\.0\.0\.1:[0-9]+, [0-9a-f]+, 3\.5\.0, [0-9.]+ [kMG]?B, (true|false), false, [0-9]+, [0-9]+, [0-9]+, $'
  [ "$(echo "$status" | grep -c ', true, false,')" -eq 1 ] || { echo "compat: FAILED: expected exactly one leader" >&2; echo "$status" >&2; exit 1; }
  table=$("$client" --endpoints "$keel_eps" endpoint status -w table)
  check "$(basename "$client") endpoint status -w table" "$table" '^(\+[-+]+\+|\|.*\|)$'
  health=$("$client" --endpoints "$keel_eps" endpoint health 2>&1)
  check "$(basename "$client") endpoint health" "$health" '^127\.0\.0\.1:[0-9]+ is healthy: successfully committed proposal: took = .*$'
done
echo "compat: all etcdctl checks passed"
