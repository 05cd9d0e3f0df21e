"""Webhook delivery rate: `python3 bench/deliveries.py ORGD_ADDR RECEIVER_ADDR KEY`.

Makes 100 orgs under `bench` and a paused webhook on the root (subtree) to
the receiver, writes events with wrk (PATCHes spread over the 100 orgs) while
it is paused, then enables it and times until the receiver has every one.
Prints "LABEL|events/s|events|seconds" for report.py. Delivery is in order
per org, so the 100 orgs let the deliverer's workers run side by side.
"""

import json
import subprocess
import sys
import time
import urllib.request

orgd, receiver, key = sys.argv[1:4]


def call(method, path, body=None, base=orgd):
    req = urllib.request.Request(f"http://{base}{path}", method=method)
    req.add_header("Authorization", f"Bearer {key}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, data) as res:
        text = res.read()
        return json.loads(text) if text else None


for i in range(100):
    call("POST", "/orgs", {"id": f"b{i}", "name": f"b{i}", "parent_id": "bench"})
hook = call("POST", "/orgs/root/webhooks", {"url": f"http://{receiver}/hook", "types": ["org.update"]})
call("PATCH", f"/orgs/root/webhooks/{hook['id']}", {"enabled": False})

subprocess.run(
    ["wrk", "-t2", "-c16", "-d10s", "-s", "bench/patch_many.lua", f"http://{orgd}/orgs/b0"],
    check=True, stdout=subprocess.DEVNULL,
)
# Every PATCH was an org.update event: count them in the feed.
events, after = 0, None
while True:
    path = "/orgs/root/events?types=org.update&limit=1000" + (f"&after={after}" if after else "")
    req = urllib.request.Request(f"http://{orgd}{path}", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req) as res:
        page = json.loads(res.read())
        link = res.headers.get("Link", "")
    if not page:
        break
    events += len(page)
    after = link.split("after=")[1].split(">")[0].split("&")[0]

start = time.monotonic()
call("PATCH", f"/orgs/root/webhooks/{hook['id']}", {"enabled": True})
while True:
    got = int(urllib.request.urlopen(f"http://{receiver}/count").read())
    if got >= events:
        break
    if time.monotonic() - start > 300:
        sys.exit(f"only {got} of {events} events delivered in 300 s")
    time.sleep(0.05)
seconds = time.monotonic() - start
print(f"webhook deliveries to a local receiver (100 orgs, 8 workers)|{events / seconds:.0f}|{events}|{seconds:.2f}")
