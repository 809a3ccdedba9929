#!/usr/bin/env python3
"""Drives Tusk through toot, the Mastodon command-line client this project did not write, the
way a person at a terminal does: `toot login_cli` (password grant), `toot whoami`, `toot follow`,
`toot post` (with `--media` too), `toot timelines home`, `toot notifications`, `toot search`.

Usage: toot_flow.py BASE_URL   (exits non-zero, with the failing step, on any failure)
Run it with the Python of the venv deploy/clients/install.sh fills: the `toot` beside that Python
is the one driven ($TOOT overrides). crates/tusk/tests/api/clients.rs runs this.

toot has no sign-up command, so the two accounts (alice, whom toot signs in as, and bob) and
bob's side of things (his post, his follow and favourite) go through the API with urllib.
toot keeps its config and cache in a temporary directory (XDG_CONFIG_HOME, XDG_CACHE_HOME), runs
with no standard input (a prompt fails instead of waiting) and with a minimal environment (no
proxy variables for loopback, no stray TOOT_* option). An http:// instance URL is kept as it is
(toot adds https:// only to a bare domain), so `--instance http://127.0.0.1:PORT` works.
"""

import json
import os
import secrets
import subprocess
import sys
import tempfile
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import flowkit
from flowkit import check, eventually, step

PASSWORD = "correct horse battery staple"
SCOPES = "read write follow"
TOOT = os.environ.get("TOOT") or str(Path(sys.executable).parent / "toot")


class Api:
    """The few raw API calls toot cannot make (sign-up) or that are the other user's."""

    def __init__(self, base):
        self.base = base

    def call(self, method, path, token=None, **fields):
        data = urllib.parse.urlencode(fields).encode() if fields else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path} answered {error.code}: {error.read().decode()}") from None


class Toot:
    """Runs the toot CLI in its own config directory, as one person's terminal."""

    def __init__(self, home):
        config, cache = Path(home, "config"), Path(home, "cache")
        self.config_file = config / "toot" / "config.json"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": home,
            "XDG_CONFIG_HOME": str(config),
            "XDG_CACHE_HOME": str(cache),
            "COLUMNS": "120",
        }

    def run(self, *args, env=None):
        """`toot --debug ARGS`; answers stdout, fails with stdout and the request log otherwise."""
        result = subprocess.run(
            [TOOT, "--debug", *args],
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"`toot {' '.join(args)}` exited with {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr (toot's request log):\n{result.stderr}"
            )
        return result.stdout

    def until(self, what, args, wanted):
        """Runs `toot ARGS` until its output holds every string of `wanted`; answers it."""
        last = {"out": ""}

        def probe():
            last["out"] = self.run(*args)
            return all(text in last["out"] for text in wanted)

        try:
            eventually(what, probe, interval=0.3)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}; last output of `toot {' '.join(args)}`:\n{last['out']}")
        return last["out"]


def main(base, home):
    suffix = secrets.token_hex(4)
    api = Api(base)
    toot = Toot(home)

    step(f"{toot.run('--version').strip()} ({TOOT})")

    step("sign up alice and bob through the API (toot has no sign-up command)")
    app = api.call("POST", "/api/v1/apps", client_name="tusk-toot-flow-setup",
                   redirect_uris="urn:ietf:wg:oauth:2.0:oob", scopes=SCOPES)
    app_token = api.call("POST", "/oauth/token", grant_type="client_credentials", client_id=app["client_id"],
                         client_secret=app["client_secret"], scope=SCOPES)["access_token"]
    users = {}
    for name in ("alice", "bob"):
        username = f"{name}{suffix}"
        token = api.call("POST", "/api/v1/accounts", token=app_token, username=username,
                         email=f"{username}@example.org", password=PASSWORD, agreement="true",
                         locale="en")["access_token"]
        me = api.call("GET", "/api/v1/accounts/verify_credentials", token=token)
        users[name] = {"username": username, "token": token, "id": me["id"]}
    alice, bob = users["alice"], users["bob"]

    step("toot login_cli (password grant; the password through toot's TOOT_LOGIN_CLI_PASSWORD)")
    out = toot.run("login_cli", "--instance", base, "--email", f"{alice['username']}@example.org",
                   env={"TOOT_LOGIN_CLI_PASSWORD": PASSWORD})
    check("Successfully logged in" in out, f"login_cli said:\n{out}")
    config = json.loads(toot.config_file.read_text())
    check(config["active_user"] and config["active_user"].startswith(f"{alice['username']}@"),
          f"toot's active user is {config['active_user']!r}")
    check(all(entry["base_url"] == base for entry in config["apps"].values()),
          f"toot stored the instance as {[entry['base_url'] for entry in config['apps'].values()]}, not {base}")

    step("toot whoami")
    out = toot.run("whoami")
    check(f"@{alice['username']}" in out, f"whoami shows:\n{out}")
    check(json.loads(toot.run("whoami", "--json"))["id"] == alice["id"], "whoami --json is someone else")

    step("toot follow bob (toot finds him with /api/v2/search, then follows by id)")
    out = toot.run("follow", bob["username"])
    check(f"You are now following {bob['username']}" in out, f"follow said:\n{out}")
    followers = api.call("GET", f"/api/v1/accounts/{bob['id']}/followers")
    check(any(account["id"] == alice["id"] for account in followers), "alice is not among bob's followers")

    step("toot post; bob posts too (API)")
    text = f"Hello from toot {suffix}"
    out = toot.run("post", text)
    check(out.startswith("Toot posted: "), f"post said:\n{out}")
    bob_text = f"Bob posts too {suffix}"
    bobs = api.call("POST", "/api/v1/statuses", token=bob["token"], status=bob_text)

    step("toot timelines home shows both posts")
    toot.until("both posts in alice's home", ["timelines", "home", "--no-pager", "--no-clear", "--limit", "20"],
               [text, bob_text])
    home = json.loads(toot.run("timelines", "home", "--json"))
    check(bobs["id"] in [status["id"] for status in home], "bob's post is not in home --json")
    own = next(status for status in home if text in status["content"])

    step("bob follows alice and favourites her post (API); toot notifications shows both")
    api.call("POST", f"/api/v1/accounts/{alice['id']}/follow", token=bob["token"])
    api.call("POST", f"/api/v1/statuses/{own['id']}/favourite", token=bob["token"])
    toot.until("the follow and the favourite in alice's notifications", ["notifications"],
               [f"@{bob['username']} now follows you", f"@{bob['username']} favourited your status", text])
    kinds = {(n["type"], n["account"]["id"]) for n in json.loads(toot.run("notifications", "--json"))}
    check({("follow", bob["id"]), ("favourite", bob["id"])} <= kinds, f"notifications --json holds {kinds}")

    step("toot post --media (a photo with alt text); it reaches bob's home with its files")
    picture = Path(toot.env["HOME"], "photo.png")
    picture.write_bytes(flowkit.png(320, 200))
    photo_text = f"A photo from toot {suffix}"
    out = toot.run("post", "--media", str(picture), "--description", "a gradient", photo_text)
    check(out.startswith("Toot posted: "), f"post --media said:\n{out}")

    def photo_in_bobs_home():
        bobs_home = api.call("GET", "/api/v1/timelines/home?limit=40", token=bob["token"])
        return next((s for s in bobs_home if photo_text in s["content"] and s["media_attachments"]), None)

    photo = eventually("the photo in bob's home", photo_in_bobs_home)
    attachment = photo["media_attachments"][0]
    check(attachment["type"] == "image" and attachment["description"] == "a gradient", f"attachment is {attachment}")
    flowkit.check_media_served(attachment)

    step("toot search bob")
    out = toot.run("search", bob["username"])
    check("Accounts:" in out and f"@{bob['username']}" in out, f"search shows:\n{out}")
    out = toot.run("search", bob["username"], "--type", "accounts", "--json")
    check(bob["id"] in [account["id"] for account in json.loads(out)["accounts"]], f"search --json gave {out}")

    print("toot_flow: every step passed", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL")
    try:
        with tempfile.TemporaryDirectory(prefix="tusk-toot-") as home:
            main(sys.argv[1].rstrip("/"), home)
    except Exception as error:  # any failure, from an assertion or from toot
        traceback.print_exc()
        print(f"toot_flow FAILED at {flowkit.current_step!r}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
