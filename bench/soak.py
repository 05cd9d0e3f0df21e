"""A mixed soak against a running orgd: 8 clients for SOAK_MINUTES (30)
minutes, each looping over reads, PATCH, usage, creates and deletes,
children_audit, the access log and subtree consumption; the server's RSS and
the requests served are sampled every minute.

Usage: soak.py BASE_URL ROOT_KEY SERVER_PID OUT.md
Exits 1 when a request fails or a target is missed:
RSS grows < 20% over the second half; throughput of the last minute stays
within 20% of the first minute's."""

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

base, key, pid, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
minutes = int(os.environ.get("SOAK_MINUTES", "30"))
clients = int(os.environ.get("SOAK_CLIENTS", "8"))
host = urllib.parse.urlparse(base).netloc
auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

done = 0
errors = []
lock = threading.Lock()
stop = threading.Event()


def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def call(conn, method, path, body=None, ok=(200, 201, 202)):
    global done
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=auth)
    res = conn.getresponse()
    data = res.read()
    if res.status not in ok:
        raise RuntimeError(f"{method} {path} -> {res.status}: {data[:200]!r}")
    with lock:
        done += 1
    return json.loads(data) if data else None


def client(n):
    conn = http.client.HTTPConnection(host, timeout=30)
    parent = f"soak{n}"
    call(conn, "POST", "/orgs", {"id": parent, "name": parent})
    i = 0
    while not stop.is_set():
        i += 1
        try:
            call(conn, "GET", f"/orgs/{parent}")
            call(conn, "GET", f"/orgs/{parent}/configs/effective")
            call(conn, "PATCH", f"/orgs/{parent}", {"name": f"soak {n} {i}"})
            call(conn, "POST", f"/orgs/{parent}/usage",
                 [{"metric": "soak.events", "quantity": 1, "idempotency_key": f"{n}-{i}"}])
            child = call(conn, "POST", "/orgs", {"name": f"child {i}", "parent_id": parent})
            if i % 2 == 0:  # half the children stay: the tree grows
                call(conn, "DELETE", f"/orgs/{child['id']}")
            call(conn, "GET", "/orgs/root/children_audit?limit=20")
            call(conn, "GET", f"/orgs/{parent}/access_log?limit=20")
            call(conn, "GET", "/orgs/root/consumption?include_children=true")
        except Exception as e:  # noqa: BLE001 - every failure is reported
            with lock:
                errors.append(str(e))
            stop.set()


threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
for t in threads:
    t.start()
samples = []  # (minute, requests in that minute, rss MiB)
last = 0
start = time.monotonic()
for minute in range(1, minutes + 1):
    while time.monotonic() - start < minute * 60 and not stop.is_set():
        time.sleep(0.5)
    if stop.is_set():
        break
    with lock:
        now = done
    samples.append((minute, now - last, rss_mib()))
    last = now
    print(f"minute {minute}: {samples[-1][1]} requests, RSS {samples[-1][2]:.1f} MiB", flush=True)
stop.set()
for t in threads:
    t.join(timeout=60)

lines = [
    "## Soak",
    "",
    f"`bash bench/soak.sh`: {clients} clients for {minutes} minutes against orgd (release, SQLite), "
    "each looping over GET, effective configs, PATCH, usage, create (and delete every second one), "
    "children_audit at the root, the access log and consumption with children at the root.",
    "",
]
ok = not errors and len(samples) == minutes
if errors:
    lines.append(f"- **Failed**: {len(errors)} error(s), first: `{errors[0]}`")
if samples:
    half = samples[len(samples) // 2 - 1][2] if len(samples) > 1 else samples[0][2]
    end = samples[-1][2]
    growth = (end - half) / half if half else 0.0
    first, final = samples[0][1], samples[-1][1]
    drift = (final - first) / first if first else 0.0
    total = sum(s[1] for s in samples)
    lines += [
        f"- Requests served: {total:,} ({total / (60 * len(samples)):,.0f}/s), errors: {len(errors)}",
        f"- RSS: {samples[0][2]:.1f} MiB after minute 1, {half:.1f} MiB at half time, {end:.1f} MiB at the end: "
        f"{growth:+.1%} over the second half (target < 20%): {'met' if growth < 0.2 else '**NOT met**'}",
        f"- Throughput: {first:,} requests in the first minute, {final:,} in the last: {drift:+.1%} "
        f"(target within 20%): {'met' if abs(drift) <= 0.2 else '**NOT met**'}",
        "",
        "| minute | requests | RSS MiB |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {m} | {r:,} | {s:.1f} |" for m, r, s in samples]
    ok = ok and growth < 0.2 and abs(drift) <= 0.2
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if ok else 1)
