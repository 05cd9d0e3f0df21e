"""Streams GET /orgs/root/audit/export?scope=subtree from a running orgd to a
line counter, sampling the server's RSS meanwhile, for bench/run.sh.

Usage: export.py ADDR KEY SERVER_PID. Prints one line:
"export|LABEL|events/s|events|seconds|seconds to the first byte|RSS MiB
before|peak RSS MiB". Before the first byte orgd holds every chain to its
signed head; the time to the first byte is those checks'."""

import http.client
import json
import sys
import threading
import time

addr, key, pid = sys.argv[1], sys.argv[2], sys.argv[3]


def rss_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


before = rss_mib()
peak = before
done = threading.Event()


def sample():
    global peak
    while not done.is_set():
        peak = max(peak, rss_mib())
        time.sleep(0.02)


sampler = threading.Thread(target=sample)
sampler.start()
host, port = addr.rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=600)
started = time.monotonic()
conn.request("GET", "/orgs/root/audit/export?scope=subtree", headers={"Authorization": f"Bearer {key}"})
res = conn.getresponse()
first_byte = time.monotonic() - started
if res.status != 200:
    sys.exit(f"export: status {res.status}: {res.read()[:500]!r}")
lines, tail = 0, b""
while True:
    chunk = res.read(1 << 16)
    if not chunk:
        break
    lines += chunk.count(b"\n")
    tail = (tail + chunk)[-4096:]
secs = time.monotonic() - started
done.set()
sampler.join()
manifest = json.loads(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1])["manifest"]
# No window, so no link lines: every line but the manifest and the
# proofs (one per org in the checkpoint) is an event.
events = lines - 1 - manifest.get("proofs", 0)
if manifest["count"] != events:
    sys.exit(f"export: the manifest counts {manifest['count']} events, the body has {events}")
label = "audit export of the whole tree (scope=subtree at the root)"
print(f"export|{label}|{events / secs:.0f}|{events}|{secs:.2f}|{first_byte:.2f}|{before:.0f}|{peak:.0f}")
