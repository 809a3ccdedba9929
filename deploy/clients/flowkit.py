"""What the Python client flows share (mastodon_py_flow.py, toot_flow.py): named steps, checks
and polling for asynchronous effects. Standard library only: each flow runs in its own client's
virtualenv, and Python puts this directory on the path of a script run from it."""

import time

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
