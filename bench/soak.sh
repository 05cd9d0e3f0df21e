#!/usr/bin/env bash
# The soak: `bash bench/soak.sh` (SOAK_MINUTES, default 30). Builds orgd in
# release mode, serves a fresh SQLite database and runs bench/soak.py
# against it; the results go to bench/soak.md, which BENCHMARKS.md includes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
cargo build --release --quiet --bin orgd
key="orgd_soak$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ORGD_LOG=warn,orgd::cli=info ORGD_BOOTSTRAP_KEY=$key target/release/orgd serve --listen 127.0.0.1:0 \
  --database-url "sqlite://$work/soak.db" >/dev/null 2>"$work/orgd.log" &
pid=$!
addr=""
for _ in $(seq 1 200); do
  addr=$(sed -n 's/.*listening on \(.*\)$/\1/p' "$work/orgd.log" | head -n1)
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { cat "$work/orgd.log" >&2; exit 1; }
python3 bench/soak.py "http://$addr" "$key" "$pid" bench/soak.md
