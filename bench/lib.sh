# What bench/run.sh and bench/soak.sh share; source it after setting $work.

# Every server started, for the scripts' cleanup.
pids=()

# start NAME CMD... : runs CMD in the background and sets $addr from its
# "listening on" line (not a command substitution: the server would hold its
# pipe). Its log is $work/NAME.log, also named by $last_log.
start() {
  local name=$1; shift
  last_log="$work/$name.log"
  "$@" >/dev/null 2>"$last_log" &
  pids+=($!)
  addr=""
  for _ in $(seq 1 600); do
    addr=$(sed -n 's/.*listening on \(.*\)$/\1/p' "$work/$name.log" | head -n1)
    [ -n "$addr" ] && return
    sleep 0.05
  done
  echo "$name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}
