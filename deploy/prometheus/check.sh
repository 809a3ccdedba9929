#!/usr/bin/env bash
# Checks Tusk's monitoring files: the local Prometheus config, the recording rules and alerts
# (with their promtool unit tests) and the Grafana dashboards. Installs promtool (Debian package
# `prometheus`) if it is missing. Exits non-zero if any check fails; the last line sums it up.
#
#   deploy/prometheus/check.sh
#
# Canonical files live in the Helm chart (helm/tusk/files/); deploy/prometheus/tusk-rules.yaml
# and deploy/grafana/*.json are symlinks to them.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"
cd "$TUSK_ROOT" || exit 1

CONFIG=deploy/prometheus/prometheus.yml
RULES=helm/tusk/files/rules/tusk-rules.yaml
TESTS=deploy/prometheus/tests/tusk-rules.test.yaml
DASHBOARDS=helm/tusk/files/dashboards

if ! command -v promtool >/dev/null; then
    deploy/local/prometheus.sh install || die "could not install promtool"
fi

failed=()
passed=0
# step NAME CMD...: run a check, remember whether it passed.
step() {
    local name=$1
    shift
    log "$name"
    if "$@"; then
        passed=$((passed + 1))
    else
        warn "FAILED: $name"
        failed+=("$name")
    fi
}

# The symlinks outside the chart must point at the chart's files.
check_links() {
    local ok=0 link target
    for pair in \
        "deploy/prometheus/tusk-rules.yaml:../../$RULES" \
        "deploy/grafana/tusk-overview.json:../../$DASHBOARDS/tusk-overview.json"; do
        link=${pair%%:*} target=${pair#*:}
        if [[ ! -L $link || $(readlink "$link") != "$target" || ! -f $link ]]; then
            echo "$link should be a symlink to $target" >&2
            ok=1
        fi
    done
    return $ok
}

step "symlinks into helm/tusk/files" check_links
step "promtool check config $CONFIG" promtool check config "$CONFIG"
step "promtool check rules $RULES" promtool check rules "$RULES"
step "promtool test rules $TESTS" promtool test rules "$TESTS"

# Dashboards: structure, datasources, and PromQL that names only contract metrics. Every query
# is also written into a throw-away rule file, so that promtool parses it.
QUERIES_FILE=$(mktemp --suffix=.yaml)
RENDERED_FILE=$(mktemp --suffix=.yaml)
trap 'rm -f "$QUERIES_FILE" "$RENDERED_FILE"' EXIT

check_dashboards() {
    local ok=0
    python3 - "$RULES" "$DASHBOARDS" README.md "$QUERIES_FILE" <<'PY' || ok=1
import glob, json, os, re, sys

rules_path, dash_dir, readme_path, queries_path = sys.argv[1:5]
errors = []

# --- the metric names that dashboards and rules may use ------------------------------------
# The operator contract (README.md, "Operator contract"; DESIGN.md "Metric names"), plus
# tusk_build_info and tusk_dependency_up, plus whatever the README's metric table lists.
CONTRACT = {
    "tusk_http_requests_total", "tusk_http_requests_in_flight", "tusk_signups_total",
    "tusk_statuses_created_total", "tusk_queue_messages_ready", "tusk_jobs_total",
    "tusk_jobs_parked_total", "tusk_fanout_deliveries_total", "tusk_outbox_pending",
    "tusk_outbox_published_total", "tusk_feed_regenerations_total", "tusk_streaming_connections",
    "tusk_build_info", "tusk_dependency_up", "up",
}
HISTOGRAMS = {"tusk_http_request_duration_seconds", "tusk_job_duration_seconds", "tusk_fanout_lag_seconds"}
if os.path.exists(readme_path):
    for name, kind in re.findall(r"^\|\s*`(tusk_[a-z0-9_]+)`\s*\|\s*([^|]*)\|", open(readme_path).read(), re.M):
        (HISTOGRAMS if "histogram" in kind else CONTRACT).add(name)
for h in HISTOGRAMS:
    CONTRACT |= {h + "_bucket", h + "_sum", h + "_count"}

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2", "start", "end"}

def metric_names(expr):
    """The metric names a PromQL expression selects (a small tokenizer, not a parser)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"#[^\n]*", " ", e)                                            # comments
    e = re.sub(r"\{[^}]*\}", " ", e)                                          # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                                         # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+(:\w+)?\}?", " ", e)                                 # Grafana variables
    e = re.sub(r"(?<![\w:.])(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(ms|[smhdwy])*\b", " ", e)  # numbers
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or m.group(0).lower() in KEYWORDS:
            continue  # a function or an aggregation, or a keyword
        names.add(m.group(0))
    return names

def allowed(name):
    return name in CONTRACT or name in RECORDED or name.startswith("process_")

# --- the rule file ------------------------------------------------------------------------------
try:
    import yaml
except ImportError:
    yaml = None
RECORDED = set()
rule_exprs = []
if yaml is None:
    errors.append("python3 has no PyYAML (pip install pyyaml): the rule file's metric names are not checked")
    RECORDED = set(re.findall(r"^\s*-?\s*record:\s*(\S+)", open(rules_path).read(), re.M))
else:
    doc = yaml.safe_load(open(rules_path))
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                RECORDED.add(rule["record"])
            rule_exprs.append((rule.get("record") or rule.get("alert"), rule["expr"]))
            if "alert" in rule:
                if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                    errors.append(f"{rules_path}: alert {rule['alert']}: severity label must be critical, warning or info")
                for key in ("summary", "description", "runbook"):
                    if not rule.get("annotations", {}).get(key):
                        errors.append(f"{rules_path}: alert {rule['alert']}: no {key} annotation")
for name, expr in rule_exprs:
    for metric in sorted(metric_names(expr)):
        if not allowed(metric):
            errors.append(f"{rules_path}: {name}: {metric} is not a contract metric nor a recording rule")

# --- the dashboards ----------------------------------------------------------------------------
def rects_overlap(a, b):
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]

def walk(node, path="$"):
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")

queries = []  # (where, expr) for promtool
files = sorted(glob.glob(os.path.join(dash_dir, "*.json")))
if not files:
    errors.append(f"no dashboards in {dash_dir}")
panel_count = 0
for path in files:
    where = os.path.basename(path)
    text = open(path).read()
    try:
        dash = json.loads(text)
    except ValueError as e:
        errors.append(f"{where}: invalid JSON: {e}")
        continue
    if "${DS_" in text or "__inputs" in dash:
        errors.append(f"{where}: exported 'for sharing externally' (${{DS_...}} inputs); use the $datasource variable")
    if not dash.get("uid") or not dash.get("title"):
        errors.append(f"{where}: needs a stable uid and a title")
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        errors.append(f"{where}: schemaVersion should be 36 or later")

    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds_var = variables.get("datasource")
    if not ds_var or ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
        errors.append(f"{where}: needs a template variable 'datasource' of type datasource, query prometheus")
    for name, var in variables.items():
        if var.get("type") == "query":
            q = var.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = re.fullmatch(r"\s*label_values\(\s*(?:(.*),)?\s*(\w+)\s*\)\s*", q)
            expr = (m.group(1) or "") if m else q
            for metric in sorted(metric_names(expr)):
                if not allowed(metric):
                    errors.append(f"{where}: variable {name}: {metric} is not a contract metric")

    # Datasources: only ${datasource} (or Grafana's own, for the built-in annotations).
    for p, key, value in walk(dash):
        if key == "datasource":
            if isinstance(value, dict):
                uid = value.get("uid")
                if uid == "-- Grafana --" or (uid == "${datasource}" and value.get("type") == "prometheus"):
                    continue
            elif value in ("${datasource}", "$datasource"):
                continue
            elif value is None and p.startswith("$.templating"):
                continue
            errors.append(f"{where}: {p}.datasource = {json.dumps(value)}: use {{\"type\": \"prometheus\", \"uid\": \"${{datasource}}\"}}")
        elif key == "uid" and p != "$" and not p.endswith(".datasource"):
            errors.append(f"{where}: {p}.uid = {json.dumps(value)}: unexpected uid")

    # Panels: unique ids, inside the 24-column grid, no overlaps, units, datasources, queries.
    panels = []
    for panel in dash.get("panels", []):
        panels.append(panel)
        if panel.get("type") == "row" and panel.get("collapsed"):
            panels.extend(panel.get("panels", []))
    ids = [p.get("id") for p in panels]
    for dup in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        errors.append(f"{where}: panel id {dup} is used more than once")
    placed = []
    for panel in panels:
        pid, title = panel.get("id"), panel.get("title", "")
        label = f"{where}: panel {pid} ({title})"
        if not isinstance(pid, int):
            errors.append(f"{label}: needs an integer id")
        g = panel.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in "xywh") or g["w"] <= 0 or g["h"] <= 0 or g["x"] < 0 or g["x"] + g["w"] > 24:
            errors.append(f"{label}: bad gridPos {g}")
        else:
            for other_label, other in placed:
                if rects_overlap(g, other):
                    errors.append(f"{label} overlaps {other_label}")
            placed.append((f"panel {pid} ({title})", g))
        if panel.get("type") == "row":
            continue
        panel_count += 1
        if panel.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            errors.append(f"{label}: datasource must be {{\"type\": \"prometheus\", \"uid\": \"${{datasource}}\"}}")
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            errors.append(f"{label}: no unit (fieldConfig.defaults.unit)")
        targets = panel.get("targets") or []
        if not targets:
            errors.append(f"{label}: no queries")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            errors.append(f"{label}: duplicate refIds {refs}")
        for t in targets:
            if t.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                errors.append(f"{label}: target {t.get('refId')}: datasource must be ${{datasource}}")
            expr = t.get("expr", "")
            if not expr.strip():
                errors.append(f"{label}: target {t.get('refId')}: empty expr")
                continue
            names = metric_names(expr)
            if not names:
                errors.append(f"{label}: target {t.get('refId')}: selects no metric")
            for metric in sorted(names):
                if not allowed(metric):
                    errors.append(f"{label}: {metric} is not a contract metric nor a recording rule")
            queries.append((f"{where} panel {pid} {t.get('refId')}", expr))

# Grafana's variables replaced by values promtool can parse.
def concrete(expr):
    for var, value in (("$__rate_interval", "1m"), ("$__interval", "1m"), ("$__range", "1h"),
                       ("${datasource}", "x"), ("$namespace", ".*")):
        expr = expr.replace(var, value)
    return expr

with open(queries_path, "w") as f:
    f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
    for i, (where, expr) in enumerate(queries):
        f.write(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(concrete(expr))}\n")

for e in errors:
    print("  " + e, file=sys.stderr)
print(f"  {len(files)} dashboard(s), {panel_count} panels, {len(queries)} queries, {len(rule_exprs)} rules checked")
sys.exit(1 if errors else 0)
PY
    # promtool names the query that does not parse by its rule number: dashboard_query_N.
    if ! promtool check rules "$QUERIES_FILE" >/dev/null 2>&1; then
        promtool check rules "$QUERIES_FILE" >&2
        echo "  a dashboard query does not parse (dashboard_query_N above is the Nth query)" >&2
        ok=1
    fi
    return $ok
}
step "dashboards in $DASHBOARDS" check_dashboards

# The chart's PrometheusRule and dashboard ConfigMap carry these files unchanged (only when a
# helm binary is at hand: on PATH or where the chart's own tooling puts it).
HELM=$(command -v helm || true)
[[ -z $HELM && -x $HOME/.cache/tusk/tools/bin/helm ]] && HELM=$HOME/.cache/tusk/tools/bin/helm
check_chart() {
    "$HELM" template tusk helm/tusk \
        --set metrics.prometheusRule.enabled=true --set metrics.grafanaDashboards.enabled=true \
        --show-only templates/prometheusrule.yaml --show-only templates/grafana-dashboards.yaml \
        >"$RENDERED_FILE" || return 1
    python3 - "$RULES" "$DASHBOARDS" "$RENDERED_FILE" <<'PY'
import glob, json, os, sys
import yaml
rules_path, dash_dir, rendered = sys.argv[1:4]
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
kinds = {d["kind"]: d for d in docs}
ok = True
if kinds.get("PrometheusRule", {}).get("spec") != yaml.safe_load(open(rules_path)):
    print("  the PrometheusRule's spec is not " + rules_path, file=sys.stderr); ok = False
data = kinds.get("ConfigMap", {}).get("data", {})
for path in glob.glob(os.path.join(dash_dir, "*.json")):
    name = os.path.basename(path)
    if name not in data or json.loads(data[name]) != json.load(open(path)):
        print("  the dashboards ConfigMap does not carry " + name, file=sys.stderr); ok = False
sys.exit(0 if ok else 1)
PY
}
if [[ -n $HELM ]] && python3 -c 'import yaml' 2>/dev/null; then
    step "helm template: PrometheusRule and dashboards ConfigMap" check_chart
else
    warn "skipped: helm template (no helm binary or no PyYAML)"
fi

total=$((passed + ${#failed[@]}))
if ((${#failed[@]})); then
    printf -v list '%s; ' "${failed[@]}"
    echo "check.sh: FAILED ${#failed[@]} of $total checks: ${list%; }"
    exit 1
fi
echo "check.sh: all $total checks passed"
