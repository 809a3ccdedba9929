"""What the Python client flows share (mastodon_py_flow.py, toot_flow.py): named steps, checks
and polling for asynchronous effects. Standard library only: each flow runs in its own client's
virtualenv, and Python puts this directory on the path of a script run from it."""

import struct
import time
import urllib.request
import zlib

# the step running now, named in a flow's failure message
current_step = "start"


def step(name):
    global current_step
    current_step = name
    print(f"-- {name}", flush=True)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def eventually(what, probe, limit=20.0, interval=0.2):
    """Polls `probe` until it returns a truthy value (fan-out and notifications are asynchronous)."""
    deadline = time.monotonic() + limit
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def png(width, height):
    """A real PNG (a colour gradient), for the uploads: standard library only."""
    rows = b"".join(
        b"\x00" + bytes(channel for x in range(width) for channel in (x * 255 // width, y * 255 // height, 128))
        for y in range(height)
    )

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def check_media_served(attachment):
    """Both files of an attachment download as images (what an app shows)."""
    for field in ("url", "preview_url"):
        url = attachment.get(field)
        check(url, f"the attachment has no {field}: {attachment}")
        with urllib.request.urlopen(url, timeout=30) as response:
            kind = response.headers.get("Content-Type", "")
            check(response.status == 200 and kind.startswith("image/"), f"{field} {url} answered {response.status} {kind}")
            check(len(response.read()) > 0, f"{field} {url} is empty")
