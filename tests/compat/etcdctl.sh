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
  [ -n "${KEEL_COMPAT_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

keel_eps="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
etcd_ep="127.0.0.1:$((base + 10))"

"$keel" up --store-only --data-dir "$work/keel" \
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

# Cluster operations with each client against keel up: add a learner, start it from what
# `member add` printed, promote it, move leadership to it, compare hashes, remove it; alarms,
# defrag and snapshot save. Refusals must read exactly as etcd's.
expect_same_error() { # description, keel output, etcd output
  if [ "$2" != "$3" ]; then
    echo "compat: FAILED: $1 differs from etcd" >&2
    echo "keel: $2" >&2
    echo "etcd: $3" >&2
    exit 1
  fi
  echo "compat: $1 ok ($2)"
}
retry() { # attempts, command...
  local n=$1; shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.3; done
  return 1
}
etcd_learner=$(etcdctl --endpoints "$etcd_ep" member add e9 --learner --peer-urls="http://127.0.0.1:$((base + 12))" | awk '/added to cluster/ {print $2}')
etcd_promote=$(etcdctl --endpoints "$etcd_ep" member promote "$etcd_learner" 2>&1 | grep -v '"level"' || true)
etcd_not_found=$(etcdctl --endpoints "$etcd_ep" member remove 1234 2>&1 | grep -v '"level"' || true)
etcd_bad_id=$(etcdctl --endpoints "$etcd_ep" member remove zz 2>&1 | grep -v '"level"' || true)
etcdctl --endpoints "$etcd_ep" member remove "$etcd_learner" >/dev/null
etcd_alarms=$(etcdctl --endpoints "$etcd_ep" alarm list 2>&1)
joiner=0
for client in "${clients[@]}"; do
  name=$(basename "$client")
  joiner=$((joiner + 1))
  jname="j$joiner"
  jclient="127.0.0.1:$((base + 28 + 2 * joiner))"
  jpeer="http://127.0.0.1:$((base + 29 + 2 * joiner))"
  added=$("$client" --endpoints "$keel_eps" member add "$jname" --learner --peer-urls="$jpeer")
  check "$name member add --learner" "$(echo "$added" | head -1)" '^Member +[0-9a-f]+ added to cluster +[0-9a-f]+$'
  echo "$added" | grep -q "^ETCD_NAME=\"$jname\"$" || { echo "compat: FAILED: no ETCD_NAME in: $added" >&2; exit 1; }
  echo "$added" | grep -q '^ETCD_INITIAL_CLUSTER_STATE="existing"$' || { echo "compat: FAILED: $added" >&2; exit 1; }
  jid=$(echo "$added" | awk '/added to cluster/ {print $2}')
  check "$name member list shows the unstarted learner" \
    "$("$client" --endpoints "$keel_eps" member list | grep "^$jid")" "^$jid, unstarted, , $jpeer, , true$"
  expect_same_error "$name member promote of a learner that is not in sync" \
    "$("$client" --endpoints "$keel_eps" member promote "$jid" 2>&1 | grep -v '"level"' || true)" "$etcd_promote"
  expect_same_error "$name member remove of an unknown id" \
    "$("$client" --endpoints "$keel_eps" member remove 1234 2>&1 | grep -v '"level"' || true)" "$etcd_not_found"
  expect_same_error "$name member remove of a bad id" \
    "$("$client" --endpoints "$keel_eps" member remove zz 2>&1 | grep -v '"level"' || true)" "$etcd_bad_id"
  # Start the learner exactly as an operator would: with the values member add printed.
  (
    eval "$(echo "$added" | grep '^ETCD_')"
    exec "$keel" store --name "$ETCD_NAME" --data-dir "$work/$jname" \
      --initial-cluster "$ETCD_INITIAL_CLUSTER" --initial-cluster-state "$ETCD_INITIAL_CLUSTER_STATE" \
      --initial-advertise-peer-urls "$ETCD_INITIAL_ADVERTISE_PEER_URLS" --listen-peer-urls "$jpeer" \
      --listen-client-urls "http://$jclient" --advertise-client-urls "http://$jclient"
  ) >"$work/$jname.log" 2>&1 &
  jpid=$!
  pids+=($jpid)
  promoted=""
  for _ in $(seq 1 100); do
    if promoted=$("$client" --endpoints "$keel_eps" member promote "$jid" 2>&1); then break; fi
    promoted=""
    sleep 0.3
  done
  [ -n "$promoted" ] || { echo "compat: FAILED: $name member promote never succeeded" >&2; cat "$work/$jname.log" >&2; exit 1; }
  check "$name member promote" "$promoted" '^Member +[0-9a-f]+ promoted in cluster +[0-9a-f]+$'
  all_eps="$keel_eps,$jclient"
  hashes() { "$client" --endpoints "$all_eps" endpoint hashkv | awk '{print $2}' | sort -u | wc -l; }
  retry 50 test "$(hashes)" -eq 1 || { echo "compat: FAILED: $name endpoint hashkv differs" >&2; "$client" --endpoints "$all_eps" endpoint hashkv >&2; exit 1; }
  check "$name endpoint hashkv (equal on all 4 members)" "$("$client" --endpoints "$all_eps" endpoint hashkv)" '^127\.0\.0\.1:[0-9]+, [0-9]+$'
  moved=$("$client" --endpoints "$all_eps" move-leader "$jid" 2>&1)
  check "$name move-leader" "$moved" "^Leadership transferred from [0-9a-f]+ to $jid$"
  "$client" --endpoints "$jclient" endpoint status | grep -q ', true, false,' \
    || { echo "compat: FAILED: $jname is not the leader after move-leader" >&2; exit 1; }
  removed=$("$client" --endpoints "$keel_eps" member remove "$jid" 2>&1)
  check "$name member remove (of the leader)" "$removed" '^Member +[0-9a-f]+ removed from cluster +[0-9a-f]+$'
  retry 50 bash -c "! kill -0 $jpid 2>/dev/null" || { echo "compat: FAILED: the removed member $jname still runs" >&2; tail -40 "$work/$jname.log" >&2; exit 1; }
  grep -q "permanently removed from the cluster" "$work/$jname.log" || { echo "compat: FAILED: $jname did not say why it stopped" >&2; exit 1; }
  echo "compat: $name: the removed member stopped and said why"
  expect_same_error "$name alarm list (none raised)" "$("$client" --endpoints "$keel_eps" alarm list 2>&1)" "$etcd_alarms"
  check "$name defrag" "$("$client" --endpoints "$keel_eps" defrag 2>&1)" '^Finished defragmenting etcd member\[127\.0\.0\.1:[0-9]+\]$'
  rm -f "$work/backup.db"
  saved=$("$client" --endpoints "${keel_eps%%,*}" snapshot save "$work/backup.db" 2>/dev/null)
  check "$name snapshot save" "$saved" "^Snapshot saved at $work/backup.db$"
  check "keel snapshot status of $name's backup" "$("$keel" snapshot status "$work/backup.db")" '^[0-9a-f]+, [0-9]+, [0-9]+, [0-9.]+ [kMG]?B$'
done

# NOSPACE: a member with a tiny quota raises the alarm; alarm list shows it, disarm clears it.
tiny="127.0.0.1:$((base + 40))"
"$keel" store --name t1 --data-dir "$work/keel-tiny" --quota-backend-bytes 1200000 \
  --listen-client-urls "http://$tiny" --advertise-client-urls "http://$tiny" \
  --listen-peer-urls "http://127.0.0.1:$((base + 41))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((base + 41))" >"$work/keel-tiny.log" 2>&1 &
pids+=($!)
wait_ready "$tiny"
head -c 200000 /dev/zero | tr '\0' x >"$work/big" # too long for an argument: etcdctl reads stdin
nospace=""
for i in $(seq 1 40); do
  if ! out=$(etcdctl --endpoints "$tiny" put "big$i" <"$work/big" 2>&1); then nospace="$out"; break; fi
done
check "a write over the quota" "$(echo "$nospace" | grep -v '"level"')" '^Error: etcdserver: mvcc: database space exceeded$'
for client in "${clients[@]}"; do
  check "$(basename "$client") alarm list (NOSPACE)" "$("$client" --endpoints "$tiny" alarm list)" '^memberID:[0-9]+ alarm:NOSPACE $'
done
etcdctl --endpoints "$tiny" del --prefix big >/dev/null
rev=$(etcdctl --endpoints "$tiny" get x -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
etcdctl --endpoints "$tiny" compaction --physical "$rev" >/dev/null
etcdctl --endpoints "$tiny" defrag >/dev/null
check "$(basename "${clients[-1]}") alarm disarm" "$("${clients[-1]}" --endpoints "$tiny" alarm disarm)" '^memberID:[0-9]+ alarm:NOSPACE $'
check "writes after disarm" "$(etcdctl --endpoints "$tiny" put small 1)" '^OK$'
# Authentication and authorization: the same users, roles and permissions on etcd and on keel
# up, then allowed and denied operations; every line etcdctl prints must be the same. Each
# command goes to one endpoint in turn, so a token from one Keel member is used on the others.
auth_scenario() { # endpoints (comma-separated) [client]
  local client="${2:-etcdctl}" i=0
  IFS=, read -r -a eps <<<"$1"
  run() {
    local ep="${eps[$((i % ${#eps[@]}))]}"
    i=$((i + 1))
    echo "\$ etcdctl $*"
    "$client" --endpoints "$ep" "$@" 2>&1 | grep -v '"level":"warn"' || echo "(exit $?)"
  }
  local alice=(--user alice:secret) root=(--user root:rootpw)
  run role add dev
  run role add dev
  run role grant-permission dev readwrite app/ --prefix
  run role grant-permission dev read cfg
  run role grant-permission dev write logs/ logs0
  run role get dev
  run user add alice:secret
  run user add alice:again
  run auth enable
  run user add root:rootpw
  run user grant-role alice dev
  run user grant-role alice nosuchrole
  run user get alice
  run user list
  run role list
  run put cfg v1
  run put other o1
  run auth enable
  run user get root
  run auth enable
  run get cfg
  run "${alice[@]%:*}:wrong" get cfg
  run --user nobody:pw get cfg
  run "${alice[@]}" get cfg
  run "${alice[@]}" put cfg v2
  run "${alice[@]}" put app/x 1
  run "${alice[@]}" put app/y 2 --prev-kv
  run "${alice[@]}" get --prefix app/
  run "${alice[@]}" get --prefix app
  run "${alice[@]}" get other
  run "${alice[@]}" put other o2
  run "${alice[@]}" put logs/1 l
  run "${alice[@]}" get logs/1
  run "${alice[@]}" del app/x
  run "${alice[@]}" del --prefix ""
  echo 'value("cfg") = "v1"

put app/t yes

put app/t no
' | run "${alice[@]}" txn
  echo 'value("other") = "o1"

put app/t yes

' | run "${alice[@]}" txn
  echo '

put app/t yes

put other no
' | run "${alice[@]}" txn
  run "${alice[@]}" user list
  run "${alice[@]}" role add hacker
  run "${alice[@]}" auth disable
  run "${root[@]}" get other
  run "${root[@]}" user list
  run "${root[@]}" role revoke-permission dev cfg
  run "${root[@]}" role revoke-permission dev cfg
  run "${alice[@]}" get cfg
  run "${root[@]}" user revoke-role root root
  run "${root[@]}" user delete root
  run "${root[@]}" role delete root
  echo "\$ etcdctl watch other (alice)"
  timeout 2 "$client" --endpoints "${eps[0]}" "${alice[@]}" watch other 2>&1 | grep -v '"level"' || true
  echo "\$ etcdctl watch --prefix app/ (alice, then put app/w)"
  timeout 2 "$client" --endpoints "${eps[0]}" "${alice[@]}" watch --prefix app/ >"$work/auth-watch.out" 2>&1 &
  local watcher=$!
  sleep 0.5
  "$client" --endpoints "${eps[0]}" "${alice[@]}" put app/w 1 >/dev/null || true
  wait "$watcher" || true
  cat "$work/auth-watch.out"
  local lease
  lease=$("$client" --endpoints "${eps[0]}" "${root[@]}" lease grant 100 | awk '{print $2}')
  echo "\$ etcdctl lease grant 100 (root)"
  run "${root[@]}" put other leased --lease="$lease"
  run "${alice[@]}" lease revoke "$lease"
  run "${root[@]}" lease revoke "$lease"
  run "${root[@]}" user delete alice
  run "${alice[@]}" get cfg
  run "${root[@]}" auth disable
  run get other
  run auth disable
}
echo "compat: running the auth scenario with etcdctl against keel up" >&2
auth_scenario "$keel_eps" | normalise >"$work/keel-auth.out"
echo "compat: running the auth scenario with etcdctl against etcd" >&2
auth_scenario "$etcd_ep" | normalise >"$work/etcd-auth.out"
if ! diff -u "$work/etcd-auth.out" "$work/keel-auth.out"; then
  echo "compat: FAILED: etcdctl's auth scenario against Keel differs from etcd (- etcd, + keel)" >&2
  exit 1
fi
echo "compat: auth scenario identical to etcd ($(grep -c '^\$ etcdctl' "$work/keel-auth.out") commands)"
if [ -x "$keelctl" ]; then
  auth_scenario "$keel_single" "$keelctl" | normalise >"$work/keelctl-auth.out"
  if ! diff -u "$work/keel-auth.out" "$work/keelctl-auth.out"; then
    echo "compat: FAILED: keelctl's auth scenario output differs from etcdctl's (- etcdctl, + keelctl)" >&2
    exit 1
  fi
  echo "compat: keelctl prints the same as etcdctl for the auth scenario"
fi
echo "compat: all etcdctl checks passed"
