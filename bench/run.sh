#!/usr/bin/env bash
# The benchmark harness: `bash bench/run.sh` (about two minutes).
#
# Builds orgd and a no-op axum server in release mode, installs wrk (Debian)
# when missing, and measures, in one run on this machine:
#   - the no-op endpoint (the ceiling for any axum service here),
#   - GET /orgs/{id} with the access log on, and with it off,
#   - PATCH /orgs/{id}, POST /orgs/{id}/usage (1000 events a call),
#     GET /orgs/{id}/children_audit,
# each on a fresh database. Results go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  (apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y wrk >/dev/null))
fi

cargo build --release --quiet --bin orgd --example noop
bin=target/release/orgd

# start NAME CMD... : runs CMD in the background and sets $addr from its
# "listening on" line (not a command substitution: the server would hold its pipe).
start() {
  local name=$1; shift
  "$@" >/dev/null 2>"$work/$name.log" &
  pids+=($!)
  addr=""
  for _ in $(seq 1 200); do
    addr=$(sed -n 's/.*listening on \(.*\)$/\1/p' "$work/$name.log" | head -n1)
    [ -n "$addr" ] && return
    sleep 0.05
  done
  echo "$name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

stop_last() { kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

# measure LABEL URL [wrk args...]: appends "LABEL|req/s|p50|p99" to results.
measure() {
  local label=$1 url=$2; shift 2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$work/wrk.out"
  python3 - "$label" "$work/wrk.out" >>"$work/results" <<'PY'
import re, sys
label, text = sys.argv[1], open(sys.argv[2]).read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if non2xx:  # a figure that counts failures is no figure
    sys.exit(f"{label}: {non2xx.group(1)} responses were not 2xx; no results written")
print(f"{label}|{rps:.0f}|{lat['50']:.2f}|{lat['99']:.2f}")
PY
  tail -n1 "$work/results" >&2
}

key="orgd_bench$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ORGD_KEY=$key
auth="Authorization: Bearer $key"

start noop target/release/examples/noop
measure "no-op axum endpoint (ceiling)" "http://$addr/noop"
stop_last

# serve_fresh NAME [flags...]: orgd on a fresh database, with an org "bench".
serve_fresh() {
  local name=$1; shift
  rm -f "$work/$name.db"*
  ORGD_LOG=warn,orgd::cli=info ORGD_BOOTSTRAP_KEY=$key start "$name" "$bin" serve --listen 127.0.0.1:0 \
    --database-url "sqlite://$work/$name.db" "$@"
}
setup() {
  curl -sf "http://$1/orgs" -H "$auth" -H 'Content-Type: application/json' \
    -d '{"id":"bench","name":"Bench"}' >/dev/null
}

# On and off alternate, twice each, and the better run of each counts: the
# comparison should not hinge on what else the machine did for ten seconds.
for _ in 1 2; do
  serve_fresh on
  setup "$addr"
  measure "GET /orgs/{id}, access log on" "http://$addr/orgs/bench" -H "$auth"
  stop_last

  serve_fresh off --access-log off
  setup "$addr"
  measure "GET /orgs/{id}, access log off" "http://$addr/orgs/bench" -H "$auth"
  stop_last
done

serve_fresh writes
setup "$addr"
measure "PATCH /orgs/{id}" "http://$addr/orgs/bench" -s bench/patch.lua
measure "POST /orgs/{id}/usage (1000 events)" "http://$addr/orgs/bench/usage" -s bench/usage.lua
for i in $(seq 1 50); do
  curl -sf "http://$addr/orgs" -H "$auth" -H 'Content-Type: application/json' \
    -d "{\"id\":\"child-$i\",\"name\":\"Child $i\",\"parent_id\":\"bench\"}" >/dev/null
done
measure "GET /orgs/{id}/children_audit" "http://$addr/orgs/bench/children_audit" -H "$auth"
stop_last

python3 - "$work/results" <<'PY' >BENCHMARKS.md
import datetime, os, platform, subprocess, sys
rows = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:  # a label measured twice keeps its better run
    row = (float(r[1]), float(r[2]), float(r[3]))
    if r[0] not in by or row[0] > by[r[0]][0]:
        by[r[0]] = row
ceiling = by["no-op axum endpoint (ceiling)"][0]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
on = by["GET /orgs/{id}, access log on"][0]
off = by["GET /orgs/{id}, access log off"][0]
usage = by["POST /orgs/{id}/usage (1000 events)"][0] * 1000
print("# Benchmarks\n")
print("Made by `bash bench/run.sh` (wrk, "
      f"{os.environ.get('BENCH_THREADS', '2')} threads, {os.environ.get('BENCH_CONNECTIONS', '32')} connections, "
      f"{os.environ.get('BENCH_DURATION', '10s')} per line; orgd in release mode on a fresh SQLite database, "
      "durable commits; load generator and server on the same machine).\n")
print(f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {rev}")
print(f"- Machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}\n")
print("GET with the access log on and off is measured twice each, alternating; the better run of each is shown.\n")
print("| endpoint | requests/s | vs ceiling | p50 ms | p99 ms |")
print("|---|---:|---:|---:|---:|")
for name, (rps, p50, p99) in by.items():
    print(f"| {name} | {rps:,.0f} | {rps / ceiling:.1%} | {p50:.2f} | {p99:.2f} |")
print("\n## Targets\n")
print(f"- GET with the access log on reaches {on / off:.1%} of its throughput with the log off "
      f"(target ≥ 90%): {'met' if on >= 0.9 * off else 'NOT met'}.")
print(f"- Usage ingestion: {usage:,.0f} events/s (target ≥ 100,000): {'met' if usage >= 100_000 else 'NOT met'}.")
PY
cat BENCHMARKS.md
