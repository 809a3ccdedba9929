#!/usr/bin/env python3
"""Drives Tusk through Mastodon.py, a widely used Mastodon client library this project did not
write, the way an app does: register an app, sign up, sign in (password grant), post, follow,
read home page by page through the library's own Link handling, delete, unfollow.

Usage: mastodon_py_flow.py BASE_URL   (exits non-zero, with the failing step, on any failure)
Install the library with deploy/clients/install.sh; crates/tusk/tests/api/clients.rs runs this.
"""

import secrets
import sys
import traceback

from flowkit import check, eventually, step
from mastodon import Mastodon

SCOPES = ["read", "write", "follow"]
PASSWORD = "correct horse battery staple"


def client(base, client_id, client_secret, access_token=None):
    # version_check_mode="created": every call checks that the server's version (from
    # /api/v1/instance) is recent enough for it, as apps built on Mastodon.py do;
    # ratelimit_method="throw": a 429 fails the flow instead of sleeping through it
    return Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        access_token=access_token,
        api_base_url=base,
        version_check_mode="created",
        ratelimit_method="throw",
        request_timeout=30,
    )


def home_ids(api, **params):
    return [status.id for status in api.timeline_home(**params)]


def walk_home(api, page_size):
    """Every page of home, following Link rel="next" through `fetch_next`."""
    pages = []
    page = api.timeline_home(limit=page_size)
    while page:
        pages.append(page)
        check(len(pages) < 100, "fetch_next never ended")
        page = api.fetch_next(page)
    return pages


def main(base):
    suffix = secrets.token_hex(4)

    step("register an app")
    client_id, client_secret = Mastodon.create_app(
        "tusk-mastodon-py-flow",
        scopes=SCOPES,
        redirect_uris="urn:ietf:wg:oauth:2.0:oob",
        website="https://example.org/tusk",
        api_base_url=base,
    )
    check(client_id and client_secret, "create_app gave no credentials")

    step("check the server's version")
    probe = client(base, client_id, client_secret)
    version = probe.retrieve_mastodon_version()
    check(probe.verify_minimum_version("4.0.0", cached=True), f"version {version!r} reads as older than 4.0.0")

    step("sign up alice and bob")
    users = {}
    for name in ("alice", "bob"):
        username = f"{name}{suffix}"
        signup = client(base, client_id, client_secret)
        token = signup.create_account(
            username, PASSWORD, f"{username}@example.org", agreement=True, locale="en", scopes=SCOPES
        )
        check(token, f"create_account gave no token for {username}")
        check(signup.me().username == username, "the sign-up token is not the new user's")
        users[name] = (username, signup)

    step("sign in as alice with the password grant (username = email)")
    alice = client(base, client_id, client_secret)
    # allow_http: the tests serve plain HTTP on loopback; Mastodon.py wants https otherwise
    token = alice.log_in(
        username=f"{users['alice'][0]}@example.org",
        password=PASSWORD,
        scopes=SCOPES,
        allow_http=base.startswith("http://"),
    )
    check(token, "log_in gave no token")
    alice_me = alice.me()
    check(alice_me.username == users["alice"][0], "signed in as someone else")
    check(alice.ratelimit_limit is not None and alice.ratelimit_remaining is not None,
          "Mastodon.py saw no X-RateLimit headers")
    bob = users["bob"][1]
    bob_me = bob.me()

    step("alice posts")
    own = alice.status_post(f"Hello from Mastodon.py {suffix}", visibility="public")
    check(f"Hello from Mastodon.py {suffix}" in own.content, f"posted content is {own.content!r}")
    check(alice.status(own.id).id == own.id, "the new status cannot be read back")

    step("alice follows bob")
    relationship = alice.account_follow(bob_me.id)
    check(relationship.following, f"not following after account_follow: {relationship}")

    step("bob posts; the posts reach alice's home")
    bob_posts = [bob.status_post(f"bob's post {i} {suffix}") for i in range(5)]
    expected = {status.id for status in bob_posts} | {own.id}
    eventually("bob's posts in alice's home", lambda: expected <= set(home_ids(alice, limit=40)))

    step("read home two at a time through Link headers (fetch_next / fetch_previous)")
    pages = walk_home(alice, 2)
    seen = [status.id for page in pages for status in page]
    check(len(pages) >= 3, f"fetch_next gave {len(pages)} page(s) of 2 for {len(expected)} statuses: no Link rel=next?")
    check(set(seen) == expected, f"paging gave {seen}, expected {sorted(expected, reverse=True)}")
    check(seen == sorted(seen, reverse=True), f"pages are not newest first: {seen}")
    newer = alice.fetch_previous(pages[1])
    check(newer is not None, "fetch_previous found no Link rel=prev")
    check([s.id for s in newer] == [s.id for s in pages[0]],
          f"fetch_previous of page 2 gave {[s.id for s in newer]}, not page 1 {[s.id for s in pages[0]]}")

    step("bob deletes a post; it leaves alice's home")
    deleted = bob.status_delete(bob_posts[0].id)
    check(deleted.id == bob_posts[0].id, "status_delete answered with another status")
    check(deleted.get("text") == f"bob's post 0 {suffix}", f"deleted status's text is {deleted.get('text')!r}")
    eventually("the deleted post to leave alice's home", lambda: bob_posts[0].id not in home_ids(alice, limit=40))

    step("alice unfollows bob; his posts leave her home")
    relationship = alice.account_unfollow(bob_me.id)
    check(not relationship.following, f"still following after account_unfollow: {relationship}")
    remaining = {status.id for status in bob_posts[1:]}
    eventually("bob's posts to leave alice's home", lambda: not remaining & set(home_ids(alice, limit=40)))
    check(own.id in home_ids(alice, limit=40), "alice's own post left her home too")

    print("mastodon_py_flow: every step passed", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL")
    try:
        main(sys.argv[1].rstrip("/"))
    except Exception as error:  # any failure, from an assertion or from the library
        traceback.print_exc()
        print(f"mastodon_py_flow FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
