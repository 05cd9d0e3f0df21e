#!/usr/bin/env bash
# PostgreSQL writes against what PostgreSQL itself does on this machine
# (issue 30): `bash bench/postgres.sh` (about 2 minutes; builds orgd in
# release mode first). Prints "label|req/s|p50 ms|p99 ms" lines.
#
# - pgbench, 32 clients, durable commits (the server's own settings), a
#   one-row UPDATE per transaction: spread over 100 rows, and on one hot row;
# - orgd (one node, a database of its own): PATCH spread over 100 orgs,
#   PATCH on one org, POST /orgs; wrk with 32 connections;
# - two orgd nodes on one database, PATCH spread over 100 orgs, 16
#   connections each, at the same time: their sum against one node's.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${BENCH_DURATION:-10s}
seconds=${DURATION%s}
PG_ADMIN_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
work=$(mktemp -d)
# shellcheck source=bench/lib.sh
source bench/lib.sh
dbs=()
cleanup() {
  for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
  for d in "${dbs[@]:-}"; do
    [ -n "$d" ] && psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT
stop_last() { kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }
# fresh_db: a database of its own, its URL in $url (dropped at exit).
fresh_db() {
  local db
  db="orgd_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null
  dbs+=("$db")
  url="${PG_ADMIN_URL%/*}/$db"
}
cargo build --release --quiet --bin orgd
bin=target/release/orgd

# wrk_line LABEL URL [wrk args...]: one "label|req/s|p50|p99" line.
wrk_line() {
  local label=$1 url=$2 out; shift 2
  out=$(mktemp -p "$work")
  wrk -t2 -c"${BENCH_C:-32}" -d"$DURATION" --latency "$@" "$url" >"$out"
  python3 - "$label" "$out" <<'PY'
import re, sys
label, text = sys.argv[1], open(sys.argv[2]).read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
if re.search(r"Non-2xx or 3xx responses: (\d+)", text):
    sys.exit(f"{label}: some responses were not 2xx; no result")
print(f"{label}|{rps:.0f}|{lat['50']:.2f}|{lat['99']:.2f}")
PY
}

# pgbench_line LABEL SCRIPT: 32 clients on a table of 100 rows.
pgbench_line() {
  local label=$1 script=$2
  fresh_db
  psql "$url" -qc "CREATE TABLE t (id int PRIMARY KEY, v bigint NOT NULL);
                   INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g;" >/dev/null
  echo "$script" >"$work/pgbench.sql"
  pgbench -n -c 32 -j 2 -T "$seconds" -f "$work/pgbench.sql" "$url" >"$work/pgbench.out" 2>&1 ||
    { cat "$work/pgbench.out" >&2; exit 1; }
  # pgbench reports its mean latency; with --log it would give percentiles,
  # but its own tps is what the ratios compare.
  python3 - "$label" "$work/pgbench.out" <<'PY'
import re, sys
label, text = sys.argv[1], open(sys.argv[2]).read()
tps = float(re.search(r"tps = ([\d.]+)", text).group(1))
mean = float(re.search(r"latency average = ([\d.]+) ms", text).group(1))
print(f"{label}|{tps:.0f}|{mean:.2f}|")
PY
}

key="orgd_bench$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ORGD_KEY=$key
auth="Authorization: Bearer $key"
orgs() {  # the org "bench" and b0..b99 under the root
  curl -sf "http://$1/orgs" -H "$auth" -H 'Content-Type: application/json' \
    -d '{"id":"bench","name":"Bench"}' >/dev/null
  for i in $(seq 0 99); do
    curl -sf "http://$1/orgs" -H "$auth" -H 'Content-Type: application/json' \
      -d "{\"id\":\"b$i\",\"name\":\"B $i\"}" >/dev/null
  done
}

pgbench_line "pgbench: one-row UPDATE spread over 100 rows" \
  '\set id random(1, 100)
UPDATE t SET v = v + 1 WHERE id = :id;'
pgbench_line "pgbench: one-row UPDATE on one hot row" 'UPDATE t SET v = v + 1 WHERE id = 1;'

fresh_db
serve() {
  local name=$1; shift
  ORGD_LOG=warn,orgd::cli=info ORGD_BOOTSTRAP_KEY=$key start "$name" "$bin" serve \
    --listen 127.0.0.1:0 --database-url "$url" "$@"
}
serve one
orgs "$addr"
wrk_line "PostgreSQL: PATCH spread over 100 orgs, one node" "http://$addr/orgs/b0" -s bench/patch_many.lua
wrk_line "PostgreSQL: PATCH on one org, one node" "http://$addr/orgs/bench" -s bench/patch.lua
wrk_line "PostgreSQL: POST /orgs, one node" "http://$addr/orgs" -s bench/create.lua
first=$addr
serve two
second=$addr
BENCH_C=16 wrk_line "PostgreSQL: PATCH spread, two nodes: the first" "http://$first/orgs/b0" -s bench/patch_many.lua >"$work/a" &
both=$!
BENCH_C=16 wrk_line "PostgreSQL: PATCH spread, two nodes: the second" "http://$second/orgs/b0" -s bench/patch_many.lua >"$work/b"
wait "$both"
cat "$work/a" "$work/b"
stop_last
stop_last
