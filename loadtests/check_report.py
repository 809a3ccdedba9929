#!/usr/bin/env python3
"""Checks that a `tusk-surge replay` report has data in every section.

    loadtests/check_report.py REPORT_DIR

Exits non-zero, naming each empty or missing section, when it does not.
"""
import json
import pathlib
import sys

CHARTS = ["requests.png", "latency.png", "signups.png", "queues.png", "memory.png", "fanout_lag.png", "replicas.png"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def main(out):
    problems = []
    summary = json.loads((out / "summary.json").read_text())
    endpoints = summary.get("endpoints") or {}
    for wanted in ["POST /api/v1/accounts", "POST /api/v1/statuses", "GET /api/v1/timelines/home"]:
        if not endpoints.get(wanted, {}).get("count"):
            problems.append(f"no {wanted} requests")
    if summary.get("totals", {}).get("errors", 1) != 0:
        problems.append(f"{summary['totals'].get('errors')} failed requests")
    if not summary.get("signups", {}).get("total"):
        problems.append("no sign-ups")
    if not summary.get("fanout_lag", {}).get("samples"):
        problems.append("no fan-out lag samples")
    if not summary.get("queue_depth_max"):
        problems.append("no queue depth")
    rss = summary.get("rss_max_bytes") or {}
    for role in ["api", "worker"]:
        if not rss.get(role):
            problems.append(f"no {role} memory")
        if not (summary.get("rss_trend") or {}).get(role):
            problems.append(f"no {role} memory trend")
    for tier in ["api", "worker"]:
        if not summary.get("autoscaling", {}).get(tier, {}).get("points"):
            problems.append(f"no replica recommendations for the {tier}")
    for chart in CHARTS:
        path = out / chart
        if not path.exists() or path.read_bytes()[:8] != PNG_SIGNATURE:
            problems.append(f"{chart} missing or not a PNG")
    html = (out / "report.html").read_text()
    if html.count("data:image/png;base64,") < len(CHARTS):
        problems.append("report.html does not embed every chart")
    if "No data" in html:
        problems.append("report.html has a section without data")
    for problem in problems:
        print(f"report {out}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"report {out}: data in every section ({sum(e['count'] for e in endpoints.values())} requests, "
          f"{summary['signups']['total']} sign-ups, {summary['fanout_lag']['samples']} lag samples)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(pathlib.Path(sys.argv[1])))
