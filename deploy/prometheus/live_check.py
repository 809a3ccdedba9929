#!/usr/bin/env python3
"""Evaluates every query Tusk's monitoring ships through a real Prometheus's HTTP API:

  - every Grafana dashboard panel target (helm/tusk/files/dashboards/*.json) and the dashboard
    variables' metrics, with Grafana's variables replaced ($namespace -> .*, $__rate_interval
    -> 1m, $__interval -> 15s, $__range -> 5m);
  - every recording rule (helm/tusk/files/rules/tusk-rules.yaml): its expr, and the recorded
    series itself once Prometheus has evaluated the rule; every alert expr;
  - the rule groups' health as Prometheus reports it (/api/v1/rules);
  - the autoscaling queries: prometheus-adapter's seriesQuery and metricsQuery templates
    (deploy/prometheus-adapter/values.yaml) as the HPAs rendered from the chart ask for them,
    and the KEDA prometheus trigger's query rendered from the chart (or the chart's default
    from _helpers.tpl when no rendering is given).

Every query must evaluate without error. Panel queries, recording rules (expr and series) and
autoscaling queries must also return data (a non-empty result); alert expressions need not
(an inactive alert selects nothing). One line per query, a summary last; exit 1 on any failure.

The local stack has no `namespace` or `pod` label (no Kubernetes): the adapter's label matchers
become `job=~"tusk-.*"` (plus the HPA's selector), its group-by `instance`, and the seriesQuery
matchers on namespace/pod are dropped.

    live_check.py --prometheus http://127.0.0.1:9392 [--keda keda.yaml] [--hpa hpa.yaml]
                  [--queue-prefix tusk] [--wait 60]
"""

import argparse
import glob
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("live_check.py: needs PyYAML (python3-yaml, or pip install pyyaml)")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOCAL_MATCHER = 'job=~"tusk-.*"'


# --- Prometheus HTTP API ------------------------------------------------------------------------

class Prom:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        q = ("?" + urllib.parse.urlencode(params)) if params else ""
        with urllib.request.urlopen(self.url + path + q, timeout=10) as r:
            return json.load(r)

    def query(self, expr):
        """Instant query: (result or None, error or None)."""
        data = urllib.parse.urlencode({"query": expr}).encode()
        try:
            with urllib.request.urlopen(self.url + "/api/v1/query", data=data, timeout=20) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            try:
                body = json.loads(e.read())
            except ValueError:
                return None, f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            return None, str(e)
        if body.get("status") != "success":
            return None, f"{body.get('errorType')}: {body.get('error')}"
        return body["data"], None


# --- what to check --------------------------------------------------------------------------------

def grafana_concrete(expr):
    for pat, value in ((r"\$\{namespace(?::\w+)?\}|\$namespace\b", ".*"),
                       (r"\$\{?__rate_interval\}?", "1m"), (r"\$\{?__interval\}?", "15s"),
                       (r"\$\{?__range\}?", "5m")):
        expr = re.sub(pat, value, expr)
    return expr


def dashboard_queries(dash_dir):
    out = []  # (source, expr, must_have_data)
    for path in sorted(glob.glob(os.path.join(dash_dir, "*.json"))):
        name = os.path.basename(path)
        dash = json.load(open(path))
        for var in dash.get("templating", {}).get("list", []):
            if var.get("type") != "query":
                continue
            q = var.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = re.fullmatch(r"\s*label_values\(\s*(?:(.*),)?\s*(\w+)\s*\)\s*", q)
            if m and m.group(1):
                # label_values(metric, label): the metric must have series (the label itself
                # is empty outside Kubernetes)
                out.append((f"{name} variable {var['name']}", grafana_concrete(m.group(1)), True))
            elif not m:
                out.append((f"{name} variable {var['name']}", grafana_concrete(q), True))
        panels = []
        for p in dash.get("panels", []):
            panels.append(p)
            panels.extend(p.get("panels", []) or [])  # collapsed rows
        for p in panels:
            for t in p.get("targets", []) or []:
                if t.get("expr", "").strip():
                    out.append((f"{name} panel {p.get('id')} {t.get('refId')} ({p.get('title', '')})",
                                grafana_concrete(t["expr"]), True))
    return out


def rule_queries(rules_path):
    out = []
    recorded = []
    doc = yaml.safe_load(open(rules_path))
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                out.append((f"rule {rule['record']} (expr)", rule["expr"], True))
                recorded.append(rule["record"])
            else:
                out.append((f"alert {rule['alert']}", rule["expr"], False))
    for name in recorded:
        out.append((f"rule {name} (recorded series)", name, True))
    return out


def render_adapter(template, series, matchers, group_by):
    q = template.replace("<<.Series>>", series)
    q = q.replace("<<.LabelMatchers>>", ",".join(matchers))
    q = q.replace("<<.GroupBy>>", group_by)
    if "<<" in q:
        raise ValueError(f"unhandled adapter template in {template}")
    return q


def drop_k8s_matchers(selector):
    """tusk_x{namespace!="",pod!="",queue!=""} -> tusk_x{queue!=""}."""
    def fix(m):
        kept = [s for s in re.split(r"\s*,\s*", m.group(1).strip())
                if s and not re.match(r"(namespace|pod)\s*(!=|=~|!~|=)", s)]
        return "{" + ",".join(kept) + "}" if kept else ""
    return re.sub(r"\{([^}]*)\}", fix, selector)


def series_name(series_query):
    return re.match(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)", series_query).group(1)


def metric_as(rule):
    """The metric name the adapter serves for a rule (name.as; the series name if absent)."""
    series = series_name(rule["seriesQuery"])
    name = rule.get("name") or {}
    if name.get("as"):
        m = re.search(name.get("matches", "^(.*)$"), series)
        # "$1"-style references to the capture groups
        return re.sub(r"\$(\d+)", lambda g: m.group(int(g.group(1))) if m else "", name["as"])
    return series


def selector_matchers(sel):
    out = []
    for k, v in sorted((sel or {}).get("matchLabels", {}).items()):
        out.append(f'{k}="{v}"')
    for e in (sel or {}).get("matchExpressions", []):
        vals = "|".join(re.escape(v) for v in e.get("values", []))
        op = {"In": "=~", "NotIn": "!~"}.get(e["operator"])
        if op:
            out.append(f'{e["key"]}{op}"{vals}"')
    return out


def autoscaling_queries(adapter_path, keda_path, hpa_path, helpers_path, queue_prefix):
    out = []
    adapter = yaml.safe_load(open(adapter_path))
    rules = adapter.get("rules", {})
    custom = {metric_as(r): r for r in rules.get("custom", []) or []}
    external = {metric_as(r): r for r in rules.get("external", []) or []}
    for kind, table in (("custom", custom), ("external", external)):
        for metric, r in table.items():
            out.append((f"adapter {kind} {metric} seriesQuery", drop_k8s_matchers(r["seriesQuery"]), True))

    # The metrics the HPAs ask for, as rendered from the chart (or every adapter rule once).
    asks = []  # (source, kind, metric, extra matchers, group_by)
    docs = []
    if hpa_path:
        docs = [d for d in yaml.safe_load_all(open(hpa_path)) if d]
    for d in docs:
        if d.get("kind") != "HorizontalPodAutoscaler":
            continue
        hpa = d["metadata"]["name"]
        role = "tusk-api" if hpa.endswith("-api") else "tusk-worker"
        for m in d["spec"].get("metrics", []):
            if m["type"] == "Pods":
                # the adapter selects the HPA's pods (namespace + pod=~...); locally: the api job
                asks.append((f"HPA {hpa} Pods", "custom", m["pods"]["metric"]["name"],
                             [f'job="{role}"'] + selector_matchers(m["pods"]["metric"].get("selector")),
                             "instance"))
            elif m["type"] == "External":
                metric = m["external"]["metric"]
                sel = selector_matchers(metric.get("selector"))
                asks.append((f"HPA {hpa} External", "external", metric["name"],
                             [LOCAL_MATCHER] + sel, "instance"))
    if not docs:
        for metric in custom:
            asks.append(("adapter", "custom", metric, ['job="tusk-api"'], "instance"))
        for metric in external:
            sel = []
            if "queue" in external[metric]["seriesQuery"]:
                sel = [f'queue="{queue_prefix}.deliver"']
            asks.append(("adapter", "external", metric, [LOCAL_MATCHER] + sel, "instance"))
    for source, kind, metric, matchers, group_by in asks:
        table = custom if kind == "custom" else external
        rule = table.get(metric)
        if rule is None:
            out.append((f"{source} {metric}", None, f"no {kind} rule serves {metric} in {adapter_path}"))
            continue
        q = render_adapter(rule["metricsQuery"], series_name(rule["seriesQuery"]), matchers, group_by)
        out.append((f"{source} {metric} ({','.join(m for m in matchers if m != LOCAL_MATCHER)})".replace(" ()", ""), q, True))

    # KEDA's prometheus trigger(s).
    keda_queries = []
    if keda_path:
        for d in yaml.safe_load_all(open(keda_path)):
            if d and d.get("kind") == "ScaledObject":
                for t in d["spec"].get("triggers", []):
                    if t.get("type") == "prometheus":
                        keda_queries.append((f"KEDA {d['metadata']['name']} trigger {t.get('name')}",
                                             t["metadata"]["query"]))
        if not keda_queries:
            out.append(("KEDA", None, f"no prometheus trigger in {keda_path}"))
    else:
        text = open(helpers_path).read()
        m = re.search(r'define "tusk\.worker\.fanoutLagQuery".*?\{\{- else -\}\}\n(.*?)\n\{\{- end \}\}', text, re.S)
        if m:
            keda_queries.append(("KEDA trigger (default in _helpers.tpl)", m.group(1).strip()))
        else:
            out.append(("KEDA", None, f"no tusk.worker.fanoutLagQuery default found in {helpers_path}"))
    for source, q in keda_queries:
        # the chart's query selects its release's namespace; the local stack has none
        out.append((source, drop_k8s_matchers(q), True))
    return out


# --- main -------------------------------------------------------------------------------------------

def shorten(expr, width):
    e = " ".join(expr.split())
    return e if len(e) <= width else e[: width - 1] + "…"


def wait_ready(prom, want_scrapes, seconds):
    """Until both targets are up with `want_scrapes` samples and every rule group has run."""
    deadline = time.monotonic() + seconds
    last = ""
    while True:
        try:
            data, err = prom.query(f'min(count_over_time(up{{{LOCAL_MATCHER}}}[5m])) >= {want_scrapes} '
                                   f'and on() count(up{{{LOCAL_MATCHER}}} == 1) == 2')
            groups = prom.get("/api/v1/rules")["data"]["groups"]
            evaluated = groups and all(not g.get("lastEvaluation", "").startswith("0001") for g in groups)
            if data and data["result"] and evaluated:
                return True
            last = err or f"targets or rules not there yet (groups evaluated: {bool(evaluated)})"
        except (urllib.error.URLError, OSError, KeyError) as e:
            last = str(e)
        if time.monotonic() > deadline:
            print(f"live_check.py: Prometheus not ready after {seconds}s: {last}", file=sys.stderr)
            return False
        time.sleep(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--rules", default=os.path.join(ROOT, "helm/tusk/files/rules/tusk-rules.yaml"))
    ap.add_argument("--dashboards", default=os.path.join(ROOT, "helm/tusk/files/dashboards"))
    ap.add_argument("--adapter", default=os.path.join(ROOT, "deploy/prometheus-adapter/values.yaml"))
    ap.add_argument("--helpers", default=os.path.join(ROOT, "helm/tusk/templates/_helpers.tpl"))
    ap.add_argument("--keda", help="helm template output holding the KEDA ScaledObject")
    ap.add_argument("--hpa", help="helm template output holding the HPAs (worker mode hpa, api)")
    ap.add_argument("--queue-prefix", default="tusk")
    ap.add_argument("--min-scrapes", type=int, default=10)
    ap.add_argument("--wait", type=float, default=60, help="seconds to wait for targets and rules")
    ap.add_argument("--width", type=int, default=110, help="width of the shortened expressions")
    args = ap.parse_args()

    prom = Prom(args.prometheus)
    if not wait_ready(prom, args.min_scrapes, args.wait):
        return 1

    failures = 0
    counts = {}

    def report(kind, source, expr, ok, note):
        nonlocal failures
        c = counts.setdefault(kind, [0, 0])
        c[0] += 1
        if ok:
            c[1] += 1
        else:
            failures += 1
        print(f"{'ok  ' if ok else 'FAIL'} {source}: {shorten(expr or '', args.width)}"
              + (f"  -- {note}" if note else ""))

    # Prometheus's own view of the rules: every rule healthy.
    for g in prom.get("/api/v1/rules")["data"]["groups"]:
        for r in g["rules"]:
            if r.get("health") != "ok":
                report("rule health", f"rule health {r['name']}", r.get("query"), False,
                       f"{r.get('health')}: {r.get('lastError')}")

    groups = [("panel", dashboard_queries(args.dashboards)),
              ("rule", rule_queries(args.rules)),
              ("autoscaling", autoscaling_queries(args.adapter, args.keda, args.hpa, args.helpers,
                                                  args.queue_prefix))]
    for kind, queries in groups:
        for source, expr, need in queries:
            k = "alert" if source.startswith("alert ") else kind
            if expr is None:  # a setup problem, `need` holds the reason
                report(k, source, "", False, need)
                continue
            data, err = prom.query(expr)
            if err:
                report(k, source, expr, False, err)
                continue
            rtype, result = data["resultType"], data["result"]
            n = len(result) if rtype in ("vector", "matrix") else 1
            if n == 0:
                report(k, source, expr, not need, "no data" if need else "inactive (no data)")
            else:
                sample = result[0]["value"][1] if rtype == "vector" else (result[1] if rtype == "scalar" else "")
                report(k, source, expr, True, f"{n} series" + (f", first {sample}" if sample else ""))

    summary = ", ".join(f"{k}: {c[1]}/{c[0]}" for k, c in counts.items())
    total = sum(c[0] for c in counts.values())
    print(f"live_check.py: {total - failures}/{total} queries ok ({summary})"
          + (f"; {failures} FAILED" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
