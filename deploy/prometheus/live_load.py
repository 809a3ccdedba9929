#!/usr/bin/env python3
"""A short, bounded load on a local `tusk api`, so that every metric the dashboards, rules and
autoscalers read has samples: sign-ups (created and invalid), follows and unfollows (merge and
unmerge jobs), statuses (fan-out plan and batch jobs), home timelines, a deletion, photo uploads
(the media queue's jobs), a public SSE stream, and some 401/404/422 answers. Standard library
only.

    deploy/prometheus/live_load.py http://127.0.0.1:3390 [--users 30] [--seconds 25]

Used by deploy/prometheus/live-check.sh. Loopback only: it refuses any other host. Exits
non-zero if the setup (app, token, sign-ups) fails or if too many requests got an unexpected
answer; prints a one-line summary of the answers by status.
"""

import argparse
import collections
import json
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

# the PNG writer the client flows use (deploy/clients/flowkit.py, standard library only)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients"))
from flowkit import png  # noqa: E402

STATS = collections.Counter()
BOUNDARY = "tusk-live-load-boundary"


def upload_body(picture):
    """A multipart form with `picture` as `file`."""
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + picture + f"\r\n--{BOUNDARY}--\r\n".encode()
UNEXPECTED = []
LOCK = threading.Lock()


class Api:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def call(self, method, path, token=None, form=None, body=None, expect=(200,), timeout=15,
             content_type="application/json"):
        """One request; returns (status, parsed JSON or None). Records the status, and any
        answer not in `expect` as unexpected."""
        headers = {}
        data = None
        if token:
            headers["Authorization"] = "Bearer " + token
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            status, raw = 0, str(e).encode()
        with LOCK:
            STATS[status] += 1
            if status not in expect:
                UNEXPECTED.append(f"{method} {path}: {status} {raw[:200]!r}")
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None


def run_pool(items, fn, workers):
    """fn(item) for every item, on `workers` threads."""
    items = list(items)
    it = iter(items)
    it_lock = threading.Lock()

    def loop():
        while True:
            with it_lock:
                try:
                    item = next(it)
                except StopIteration:
                    return
            fn(item)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def stream(base, path, seconds, got):
    """Hold an SSE stream open for `seconds`, counting the `event:` lines received."""
    deadline = time.monotonic() + seconds
    try:
        with urllib.request.urlopen(base + path, timeout=2) as resp:
            with LOCK:
                STATS[resp.status] += 1
            while time.monotonic() < deadline:
                try:
                    line = resp.readline()
                except (socket.timeout, TimeoutError):
                    continue
                if not line:
                    break
                if line.startswith(b"event:"):
                    got[line.strip().decode()] += 1
    except (urllib.error.URLError, OSError) as e:
        with LOCK:
            UNEXPECTED.append(f"GET {path}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="the api's URL, e.g. http://127.0.0.1:3390")
    ap.add_argument("--users", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=25, help="about how long the whole load runs")
    ap.add_argument("--workers", type=int, default=4, help="concurrent requests")
    args = ap.parse_args()

    host = urllib.parse.urlsplit(args.base).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"live_load.py: refusing to load {host}: loopback only")
    started = time.monotonic()
    end = started + args.seconds
    api = Api(args.base)
    suffix = "%x" % random.getrandbits(32)

    api.call("GET", "/api/v1/instance")
    api.call("GET", "/api/v2/instance")
    api.call("GET", "/api/v1/streaming/health")

    status, app = api.call("POST", "/api/v1/apps", form={
        "client_name": "live-check", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
        "scopes": "read write follow"})
    if status != 200:
        sys.exit(f"live_load.py: POST /api/v1/apps answered {status}")
    status, tok = api.call("POST", "/oauth/token", form={
        "grant_type": "client_credentials", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "scope": "read write follow"})
    if status != 200:
        sys.exit(f"live_load.py: POST /oauth/token answered {status}")
    app_token = tok["access_token"]

    # --- sign-ups: argon2 on the api's blocking pool; 2 at a time keeps it modest ------------
    users = []  # (token, id)

    def sign_up(i):
        name = f"lc{suffix}u{i}"
        status, answer = api.call("POST", "/api/v1/accounts", token=app_token, body={
            "username": name, "email": f"{name}@example.org", "password": "correct horse battery",
            "agreement": True})
        if status != 200:
            return
        token = answer["access_token"]
        status, me = api.call("GET", "/api/v1/accounts/verify_credentials", token=token)
        if status == 200:
            with LOCK:
                users.append((token, me["id"], i))

    run_pool(range(args.users), sign_up, 2)
    users.sort(key=lambda u: u[2])
    if len(users) < max(4, args.users // 2):
        sys.exit(f"live_load.py: only {len(users)} of {args.users} sign-ups worked: {UNEXPECTED[:5]}")
    # invalid sign-ups: 422 with details (tusk_signups_total{outcome="invalid"})
    api.call("POST", "/api/v1/accounts", token=app_token, expect=(422,), body={
        "username": "no spaces", "email": f"bad{suffix}@example.org", "password": "correct horse battery",
        "agreement": True})
    api.call("POST", "/api/v1/accounts", token=app_token, expect=(422,), body={
        "username": f"lc{suffix}short", "email": f"short{suffix}@example.org", "password": "x",
        "agreement": True})

    # --- follows: everyone follows the three "popular" users and two others ------------------
    popular = users[:3]
    pairs = []
    rng = random.Random(suffix)
    for token, uid, i in users:
        targets = {p[1] for p in popular if p[1] != uid}
        while len(targets) < 5 and len(users) > 6:
            other = rng.choice(users)[1]
            if other != uid:
                targets.add(other)
        pairs += [(token, t) for t in targets]
    run_pool(pairs, lambda p: api.call("POST", f"/api/v1/accounts/{p[1]}/follow", token=p[0]), args.workers)

    # --- a public SSE stream, open while statuses are posted ----------------------------------
    events = collections.Counter()
    sse_seconds = max(3.0, min(8.0, end - time.monotonic() - 2))
    sse = threading.Thread(target=stream, args=(api.base, "/api/v1/streaming/public", sse_seconds, events), daemon=True)
    sse.start()
    time.sleep(0.3)

    # --- posting and reading until the time is up ---------------------------------------------
    posted = []
    round_no = 0
    while True:
        round_no += 1

        def post(u):
            status, st = api.call("POST", "/api/v1/statuses", token=u[0],
                                  form={"status": f"live check {suffix} round {round_no} from {u[2]}"})
            if status == 200:
                with LOCK:
                    posted.append((u[0], st["id"]))

        # the popular users post every round (fan-out to ~all users), a few others too
        run_pool(popular + rng.sample(users[3:], min(5, len(users) - 3)), post, args.workers)
        time.sleep(0.5)
        run_pool(users, lambda u: api.call("GET", "/api/v1/timelines/home?limit=20", token=u[0]), args.workers)
        run_pool(rng.sample(posted, min(5, len(posted))),
                 lambda p: api.call("GET", f"/api/v1/statuses/{p[1]}", token=p[0]), args.workers)
        api.call("GET", f"/api/v1/accounts/{popular[0][1]}", token=users[-1][0])
        if time.monotonic() > end - 4 or round_no >= 20:
            break
        time.sleep(1.0)

    # --- relationship changes and a deletion: unmerge/remove jobs ----------------------------
    last = users[-3:]
    for token, uid, i in last:
        api.call("POST", f"/api/v1/accounts/{popular[0][1]}/unfollow", token=token)
    api.call("POST", f"/api/v1/accounts/{popular[1][1]}/mute", token=users[-1][0])
    api.call("POST", f"/api/v1/accounts/{popular[1][1]}/unmute", token=users[-1][0])
    if posted:
        token, sid = posted[0]
        api.call("DELETE", f"/api/v1/statuses/{sid}", token=token)

    # --- photo uploads (v2 and v1), read back: the upload routes' and the media jobs' series ---
    multipart = f"multipart/form-data; boundary={BOUNDARY}"
    for i, (token, _, _) in enumerate(users[:6]):
        path = "/api/v2/media" if i % 2 == 0 else "/api/v1/media"
        status, media = api.call("POST", path, token=token, body=upload_body(png(64 + i, 48)),
                                 content_type=multipart, expect=(200, 202))
        if media and media.get("id"):
            api.call("GET", f"/api/v1/media/{media['id']}", token=token, expect=(200, 206))

    # --- a few late sign-ups, so that sign-up rates are still non-zero when the check runs ----
    run_pool(range(args.users, args.users + 3), sign_up, 2)

    # --- bad requests: 401, 404, 422, 400 -----------------------------------------------------
    api.call("GET", "/api/v1/accounts/verify_credentials", expect=(401,))
    api.call("GET", "/api/v1/timelines/home", token="not-a-token", expect=(401,))
    api.call("GET", "/api/v1/statuses/1", token=users[0][0], expect=(404,))
    api.call("GET", "/api/v1/accounts/1", token=users[0][0], expect=(404,))
    api.call("GET", "/api/v1/no/such/route", expect=(404,))
    api.call("POST", "/api/v1/statuses", token=users[0][0], form={"status": "x" * 501}, expect=(422,))
    api.call("POST", "/api/v1/statuses", token=users[0][0], body=b"{not json", expect=(400, 422))

    sse.join(timeout=sse_seconds + 5)
    took = time.monotonic() - started
    by_status = " ".join(f"{k}:{v}" for k, v in sorted(STATS.items()))
    print(f"live_load.py: {sum(STATS.values())} requests in {took:.1f}s ({by_status}); "
          f"{len(users)} users, {len(pairs)} follows, {len(posted)} statuses, "
          f"{sum(events.values())} SSE events; {len(UNEXPECTED)} unexpected answers")
    for line in UNEXPECTED[:10]:
        print("  unexpected: " + line)
    # a few stray answers are tolerated (the point is the metrics), a broken api is not
    if len(UNEXPECTED) > max(5, sum(STATS.values()) // 20):
        sys.exit("live_load.py: too many unexpected answers")


if __name__ == "__main__":
    main()
