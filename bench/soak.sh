#!/usr/bin/env bash
# The soak: `bash bench/soak.sh` (SOAK_MINUTES, default 30). Builds orgd in
# release mode, serves a fresh SQLite database and runs bench/soak.py
# against it; the results go to bench/soak.md, which BENCHMARKS.md includes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap 'for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
cargo build --release --quiet --bin orgd
key="orgd_soak$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ORGD_LOG=warn,orgd::cli=info ORGD_BOOTSTRAP_KEY=$key start orgd target/release/orgd serve \
  --listen 127.0.0.1:0 --database-url "sqlite://$work/soak.db"
pid=${pids[-1]}
python3 bench/soak.py "http://$addr" "$key" "$pid" bench/soak.md
