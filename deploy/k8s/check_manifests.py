#!/usr/bin/env python3
"""Asserts the properties that matter on a `helm template` rendering of helm/tusk.

Usage: check_manifests.py RENDERED.yaml [VALUES.yaml ...]

The values files are merged over the chart's values.yaml (as helm does) to know what the
rendering should contain. Writes the core (non-CRD) objects to RENDERED.core.yaml for
kubernetes-validate. Exits 1 listing every failed assertion.
"""
import base64
import copy
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "helm", "tusk")
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}
CREDENTIALS = ["DATABASE_URL", "REDIS_URL", "AMQP_URL"]
# set per Deployment (TUSK_WORKER_QUEUES as `tusk worker --queues`), not in the ConfigMap
PER_TIER = {"TUSK_LISTEN", "TUSK_ADMIN_LISTEN", "TUSK_SHUTDOWN_DELAY", "TUSK_WORKER_QUEUES"}
# object storage credentials: from a Secret (media.s3.existingSecret, existingSecret or the chart's)
MEDIA_CREDENTIALS = ["TUSK_MEDIA_S3_ACCESS_KEY_ID", "TUSK_MEDIA_S3_SECRET_ACCESS_KEY"]
# the settings the chart derives from media.* (checked against those values, not the README)
MEDIA_SETTINGS = {"TUSK_MEDIA_BACKEND", "TUSK_MEDIA_ROOT", "TUSK_MEDIA_S3_ENDPOINT", "TUSK_MEDIA_S3_BUCKET",
                  "TUSK_MEDIA_S3_REGION", "TUSK_MEDIA_PUBLIC_URL"}
WORK_QUEUES = ["fanout", "deliver", "notify", "media"]
# nginx sizes: bytes, k, m, g (any case); 0 = no limit
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
# the default lag query reads this release's namespace only (one Prometheus, several installs)
LAG_CORE = 'histogram_quantile(0.99, sum(rate(tusk_fanout_lag_seconds_bucket{namespace="'


failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def env_map(container):
    return {e["name"]: e for e in container.get("env", [])}


def nginx_size(text):
    m = re.fullmatch(r"([0-9]+)([kKmMgG]?)", str(text))
    return int(m.group(1)) * SIZE_UNITS[m.group(2).lower()] if m else None


def queues_of(args):
    """The work queues a `tusk worker` Deployment consumes (all of them without --queues)."""
    if "--queues" in args:
        return args[args.index("--queues") + 1].split(",")
    return list(WORK_QUEUES)


def main():
    rendered, value_files = sys.argv[1], sys.argv[2:]
    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    for vf in value_files:
        with open(vf) as f:
            values = merge(values, yaml.safe_load(f))
    with open(rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]

    objs = {}
    for d in docs:
        check(d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"),
              f"object without apiVersion/kind/name: {str(d)[:120]}")
        key = (d["kind"], d["metadata"]["name"])
        check(key not in objs, f"duplicate object {key}")
        objs[key] = d

    def of_kind(kind):
        return [o for (k, _), o in objs.items() if k == kind]

    with open(rendered[: -len(".yaml")] + ".core.yaml", "w") as f:
        yaml.safe_dump_all([d for d in docs if d["kind"] not in CRD_KINDS], f, sort_keys=False)

    # --- names and labels -----------------------------------------------------------------
    deployments = {o["metadata"]["name"]: o for o in of_kind("Deployment")}
    api_dep = next((o for o in deployments.values() if o["metadata"]["name"].endswith("-api")), None)
    worker_dep = next((o for o in deployments.values() if o["metadata"]["name"].endswith("-worker")), None)
    if not (check(api_dep and worker_dep, f"want api and worker Deployments, got {list(deployments)}")):
        return
    fullname = api_dep["metadata"]["name"][: -len("-api")]
    # the media workers' Deployment exists only when asked for (worker.media.separate)
    separate = values["worker"]["media"]["separate"]
    media_dep = deployments.get(f"{fullname}-worker-media")
    check((media_dep is not None) == separate,
          f"media worker Deployment {'missing' if separate else 'rendered'} with worker.media.separate={separate}")
    check(len(deployments) == (3 if separate else 2), f"Deployments: {sorted(deployments)}")
    for d in docs:
        labels = d["metadata"].get("labels", {})
        for l in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                  "helm.sh/chart"):
            check(l in labels, f"{d['kind']}/{d['metadata']['name']}: label {l} missing")

    secret_name = values["existingSecret"] or fullname
    prefix = str(values["config"].get("TUSK_QUEUE_PREFIX", "tusk"))
    media = values["media"]
    s3 = media["backend"] == "s3"
    media_secret_name = media["s3"]["existingSecret"] or secret_name

    # --- ConfigMap / Secret ---------------------------------------------------------------
    cm = objs.get(("ConfigMap", fullname))
    if check(cm, "settings ConfigMap missing"):
        data = cm["data"]
        check(data.get("TUSK_LOG_FORMAT") == "json", "TUSK_LOG_FORMAT must be json")
        check(data.get("TUSK_QUEUE_TYPE") == "quorum", "TUSK_QUEUE_TYPE must be quorum")
        for k in CREDENTIALS + MEDIA_CREDENTIALS:
            check(k not in data, f"credential {k} must not be in the ConfigMap")
        readme = os.path.join(ROOT, "README.md")
        if os.path.exists(readme):  # every TUSK_* setting of the README's table is set
            with open(readme) as f:
                documented = set(re.findall(r"^\| `(TUSK_[A-Z0-9_]+)` \|", f.read(), re.M))
            missing = sorted(documented - set(data) - PER_TIER - set(MEDIA_CREDENTIALS) - MEDIA_SETTINGS)
            check(not missing, f"README settings missing from the ConfigMap: {missing}")
        # media.* -> TUSK_MEDIA_*: the backend's settings only, optional ones only when set
        want = {"TUSK_MEDIA_BACKEND": media["backend"]}
        if s3:
            want["TUSK_MEDIA_S3_BUCKET"] = media["s3"]["bucket"]
            want["TUSK_MEDIA_S3_REGION"] = media["s3"]["region"]
            if media["s3"]["endpoint"]:
                want["TUSK_MEDIA_S3_ENDPOINT"] = media["s3"]["endpoint"]
        else:
            want["TUSK_MEDIA_ROOT"] = media["local"]["root"]
        if media["publicUrl"]:
            want["TUSK_MEDIA_PUBLIC_URL"] = media["publicUrl"]
        got = {k: v for k, v in data.items() if k in MEDIA_SETTINGS}
        check(got == want, f"ConfigMap media settings {got}, want {want}")
        check("TUSK_WORKER_QUEUES" not in data, "TUSK_WORKER_QUEUES is per Deployment, not in the ConfigMap")
    secrets = of_kind("Secret")
    release_secrets = [s for s in secrets if "helm.sh/hook" not in s["metadata"].get("annotations", {})]
    if values["existingSecret"]:
        check(not release_secrets, "existingSecret set, yet the chart makes a Secret")
        check(not [s for s in secrets], "existingSecret set, yet the chart makes a hook Secret")
    else:
        s = objs.get(("Secret", fullname))
        if check(s, "credentials Secret missing"):
            media_keys = MEDIA_CREDENTIALS if s3 and not media["s3"]["existingSecret"] else []
            check(sorted(s.get("data", {})) == sorted(CREDENTIALS + media_keys), f"Secret keys: {sorted(s.get('data', {}))}")
            if media_keys:
                got = base64.b64decode(s["data"]["TUSK_MEDIA_S3_SECRET_ACCESS_KEY"]).decode()
                check(got == media["s3"]["secretAccessKey"], "Secret: TUSK_MEDIA_S3_SECRET_ACCESS_KEY is not media.s3.secretAccessKey")
    # the object storage secret appears nowhere but (base64) in a Secret
    key = media["s3"]["secretAccessKey"]
    if key:
        for d in docs:
            if d["kind"] != "Secret":
                check(key not in yaml.safe_dump(d), f"{d['kind']}/{d['metadata']['name']}: media.s3.secretAccessKey in plain text")

    # --- pods -----------------------------------------------------------------------------
    def check_pod(owner, spec, want_probes):
        name = f"{owner['kind']}/{owner['metadata']['name']}"
        check(spec.get("automountServiceAccountToken") is False, f"{name}: automountServiceAccountToken must be false")
        psc = spec.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True, f"{name}: pod runAsNonRoot")
        check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: pod seccompProfile")
        containers = spec.get("containers", []) + spec.get("initContainers", [])
        check(containers, f"{name}: no containers")
        for c in containers:
            cn = f"{name}/{c['name']}"
            sc = c.get("securityContext", {})
            check(sc.get("runAsNonRoot") is True, f"{cn}: runAsNonRoot")
            check(sc.get("runAsUser") == 10001 and sc.get("runAsGroup") == 10001, f"{cn}: runAsUser/Group 10001")
            check(sc.get("readOnlyRootFilesystem") is True, f"{cn}: readOnlyRootFilesystem")
            check(sc.get("allowPrivilegeEscalation") is False, f"{cn}: allowPrivilegeEscalation false")
            check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{cn}: capabilities drop ALL")
            check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{cn}: seccompProfile RuntimeDefault")
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    check(r in res.get(kind, {}), f"{cn}: resources.{kind}.{r} missing")
            env = env_map(c)
            for k in CREDENTIALS:
                ref = env.get(k, {}).get("valueFrom", {}).get("secretKeyRef", {})
                check(ref.get("key") == k, f"{cn}: {k} must come from a Secret")
                if owner["kind"] == "Deployment":
                    check(ref.get("name") == secret_name, f"{cn}: {k} from Secret {ref.get('name')}, want {secret_name}")
                elif values["existingSecret"]:
                    check(ref.get("name") == secret_name, f"{cn}: {k} from {ref.get('name')}, want {secret_name}")
            if owner["kind"] == "Deployment":
                for k in MEDIA_CREDENTIALS:
                    e = env.get(k)
                    if not s3:
                        check(e is None, f"{cn}: {k} set with media.backend local")
                    elif check(e, f"{cn}: {k} missing with media.backend s3"):
                        check("value" not in e, f"{cn}: {k} inlined, it must come from a Secret")
                        ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                        check(ref.get("key") == k and ref.get("name") == media_secret_name,
                              f"{cn}: {k} from {ref}, want Secret {media_secret_name} key {k}")
                mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
                vols = {v["name"]: v for v in spec.get("volumes", [])}
                if s3:
                    check("media" not in mounts, f"{cn}: a media volume with media.backend s3")
                elif check("media" in mounts and "media" in vols, f"{cn}: media volume missing with media.backend local"):
                    check(mounts["media"]["mountPath"] == media["local"]["root"], f"{cn}: media mounted at {mounts['media']['mountPath']}")
                    check(vols["media"].get("persistentVolumeClaim", {}).get("claimName") == media["local"]["existingClaim"],
                          f"{cn}: media volume {vols['media']}, want the claim {media['local']['existingClaim']}")
            if want_probes:
                ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
                check("metrics" in ports, f"{cn}: no port named metrics")
                for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                                    ("readinessProbe", "/readyz")):
                    p = c.get(probe)
                    if check(p, f"{cn}: {probe} missing"):
                        check(p.get("httpGet", {}).get("path") == path, f"{cn}: {probe} path should be {path}")
                        check(p.get("httpGet", {}).get("port") in ("metrics", ports.get("metrics")),
                              f"{cn}: {probe} must use the admin port")

    w, mw = values["worker"], values["worker"]["media"]
    media_mode = mw["autoscaling"]["mode"] or w["autoscaling"]["mode"]
    # what the media workers take from worker.* and what is their own
    media_tier = dict(w, replicaCount=mw["replicaCount"], terminationGracePeriodSeconds=mw["terminationGracePeriodSeconds"],
                      extraEnv=w["extraEnv"] + mw["extraEnv"], nodeSelector=mw["nodeSelector"] or w["nodeSelector"])
    tiers = [(api_dep, values["api"], "api", ["api"]),
             (worker_dep, w, "worker", ["worker", "--queues", "fanout,deliver,notify"] if separate else ["worker"])]
    if media_dep:
        tiers.append((media_dep, media_tier, "worker-media", ["worker", "--queues", "media"]))
    # every work queue is consumed by exactly one Deployment
    consumed = sorted(q for dep, _, comp, _ in tiers if comp != "api"
                      for q in queues_of(dep["spec"]["template"]["spec"]["containers"][0].get("args", [])))
    check(consumed == sorted(WORK_QUEUES), f"work queues consumed by the worker Deployments: {consumed}")
    # no Deployment's selector picks another's pods
    for dep, _, comp, _ in tiers:
        for other, _, ocomp, _ in tiers:
            if comp != ocomp:
                sel = dep["spec"]["selector"]["matchLabels"]
                labels = other["spec"]["template"]["metadata"]["labels"]
                check(not all(labels.get(k) == v for k, v in sel.items()), f"{comp} selector matches the {ocomp} pods")

    for dep, tier, component, want_args in tiers:
        name = dep["metadata"]["name"]
        spec = dep["spec"]
        pod = spec["template"]
        check(pod["metadata"]["labels"].get("app.kubernetes.io/component") == component, f"{name}: component label")
        sel = spec["selector"]["matchLabels"]
        check(all(pod["metadata"]["labels"].get(k) == v for k, v in sel.items()), f"{name}: selector does not match pod labels")
        ann = pod["metadata"].get("annotations", {})
        check("checksum/config" in ann, f"{name}: checksum/config annotation missing")
        check(("checksum/secret" in ann) == (not values["existingSecret"]), f"{name}: checksum/secret annotation")
        autoscaled = {"api": values["api"]["autoscaling"]["enabled"],
                      "worker": w["autoscaling"]["mode"] in ("keda", "hpa"),
                      "worker-media": media_mode in ("keda", "hpa")}[component]
        if autoscaled:
            check("replicas" not in spec, f"{name}: autoscaled Deployment must not set replicas")
        else:
            check(spec.get("replicas") == tier["replicaCount"], f"{name}: replicas should be {tier['replicaCount']}")
        ps = pod["spec"]
        check_pod(dep, ps, want_probes=True)
        check(ps.get("terminationGracePeriodSeconds") == tier["terminationGracePeriodSeconds"], f"{name}: terminationGracePeriodSeconds")
        check(ps.get("terminationGracePeriodSeconds", 0) > tier["shutdownDelaySeconds"], f"{name}: grace period must exceed the shutdown delay")
        c = ps["containers"][0]
        check(c.get("args") == want_args, f"{name}: args {c.get('args')}, want {want_args}")
        env = env_map(c)
        check(env.get("TUSK_SHUTDOWN_DELAY", {}).get("value") == str(tier["shutdownDelaySeconds"]), f"{name}: TUSK_SHUTDOWN_DELAY")
        check(env.get("TUSK_ADMIN_LISTEN", {}).get("value") == f"0.0.0.0:{tier['adminPort']}", f"{name}: TUSK_ADMIN_LISTEN")
        role = "api" if component == "api" else "worker"
        check(env.get("OTEL_SERVICE_NAME", {}).get("value") == f"tusk-{role}", f"{name}: OTEL_SERVICE_NAME")
        # the pods that process media transcode videos in /tmp: room for them, and only there
        tmp = next((v for v in ps.get("volumes", []) if v["name"] == "tmp"), {})
        want_tmp = mw["tmpSizeLimit"] if component != "api" and "media" in queues_of(want_args) else "64Mi"
        check(tmp.get("emptyDir", {}).get("sizeLimit") == want_tmp,
              f"{name}: /tmp sizeLimit {tmp.get('emptyDir', {}).get('sizeLimit')}, want {want_tmp}")
        check("TUSK_WORKER_QUEUES" not in env, f"{name}: the queues are given as --queues, not TUSK_WORKER_QUEUES")
        otel = values["otel"]["endpoint"]
        check(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", {}).get("value") == (otel or None),
              f"{name}: OTEL_EXPORTER_OTLP_ENDPOINT should be {otel!r}")
        for e in values["extraEnv"] + tier["extraEnv"]:
            check(e["name"] in env, f"{name}: extraEnv {e['name']} missing")
        if component == "api":
            check(tier["shutdownDelaySeconds"] >= 1, "api shutdown delay should let load balancers drop the pod")
            check(env.get("TUSK_LISTEN", {}).get("value") == f"0.0.0.0:{tier['port']}", f"{name}: TUSK_LISTEN")
        check(c["envFrom"][0]["configMapRef"]["name"] == fullname, f"{name}: envFrom the settings ConfigMap")
        if values["topologySpread"]["enabled"] and not tier["topologySpreadConstraints"]:
            tsc = ps.get("topologySpreadConstraints", [])
            keys = {t["topologyKey"] for t in tsc}
            check(keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, f"{name}: topology keys {keys}")
            check(all(t["whenUnsatisfiable"] == "ScheduleAnyway" for t in tsc), f"{name}: ScheduleAnyway")
            check(all(t["labelSelector"]["matchLabels"] == sel for t in tsc), f"{name}: spread selector")
        want_ns = tier["nodeSelector"] or values["nodeSelector"]
        check(ps.get("nodeSelector", {}) == want_ns, f"{name}: nodeSelector {ps.get('nodeSelector')}")
        sa = ps.get("serviceAccountName")
        if values["serviceAccount"]["create"]:
            check(("ServiceAccount", sa) in objs, f"{name}: ServiceAccount {sa} not rendered")

    # --- migrate Job ------------------------------------------------------------------------
    jobs = of_kind("Job")
    if values["migrate"]["enabled"] and check(len(jobs) == 1, f"want one migrate Job, got {len(jobs)}"):
        job = jobs[0]
        ann = job["metadata"].get("annotations", {})
        check(set(ann.get("helm.sh/hook", "").split(",")) == {"pre-install", "pre-upgrade"}, "migrate: hook pre-install,pre-upgrade")
        check(set(ann.get("helm.sh/hook-delete-policy", "").split(",")) == {"before-hook-creation", "hook-succeeded"},
              "migrate: hook-delete-policy")
        check(job["spec"].get("backoffLimit") == values["migrate"]["backoffLimit"], "migrate: backoffLimit")
        check(job["spec"].get("activeDeadlineSeconds") == values["migrate"]["activeDeadlineSeconds"], "migrate: activeDeadlineSeconds")
        ps = job["spec"]["template"]["spec"]
        check(ps["containers"][0]["args"] == ["migrate"], "migrate: args")
        check(ps.get("restartPolicy") == "Never", "migrate: restartPolicy Never")
        check_pod(job, ps, want_probes=False)
        # hooks run before the release's objects exist: nothing the Job reads may be one of them
        sa = ps.get("serviceAccountName")
        check(sa is None or ("ServiceAccount", sa) not in objs, "migrate: must not use the chart's ServiceAccount (not there yet)")
        for c in ps["containers"]:
            check(not c.get("envFrom"), "migrate: must not envFrom the release ConfigMap (not there yet)")
            for k in CREDENTIALS:
                ref = env_map(c)[k]["valueFrom"]["secretKeyRef"]["name"]
                hook = objs.get(("Secret", ref))
                check(values["existingSecret"] == ref or (hook and "helm.sh/hook" in hook["metadata"].get("annotations", {})),
                      f"migrate: {k} from {ref}, neither existingSecret nor a hook Secret")
                if hook and "helm.sh/hook" in hook["metadata"].get("annotations", {}):
                    check(int(hook["metadata"]["annotations"].get("helm.sh/hook-weight", "0")) <
                          int(ann.get("helm.sh/hook-weight", "0")), "migrate: hook Secret must come before the Job")

    # --- Services ---------------------------------------------------------------------------
    svc = objs.get(("Service", f"{fullname}-api"))
    if check(svc, "api Service missing"):
        p = svc["spec"]["ports"][0]
        check((p["name"], p["port"], p["targetPort"]) == ("http", values["api"]["service"]["port"], "http"),
              f"api Service port {p}")
        check(svc["spec"]["selector"] == api_dep["spec"]["selector"]["matchLabels"], "api Service selector")
    metrics_svcs = {}
    for dep, tier, component, _ in tiers:
        ms = objs.get(("Service", f"{fullname}-{component}-metrics"[:63].rstrip("-")))
        if check(ms, f"{component} metrics Service missing"):
            metrics_svcs[component] = ms
            check(ms["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"], f"{component} metrics Service selector")
            ports = {p["name"]: p for p in ms["spec"]["ports"]}
            check("metrics" in ports and ports["metrics"]["port"] == tier["adminPort"],
                  f"{component} metrics Service port")
    for o in of_kind("Service"):
        check(len(o["metadata"]["name"]) <= 63, f"Service name {o['metadata']['name']} is over 63 characters")

    # --- PDBs -------------------------------------------------------------------------------
    for dep, tier, component, _ in tiers:
        want = (mw if component == "worker-media" else tier)["podDisruptionBudget"]
        pdb = objs.get(("PodDisruptionBudget", f"{fullname}-{component}"))
        if not want["enabled"]:
            check(pdb is None, f"{component}: PDB disabled but rendered")
            continue
        if check(pdb, f"{component}: PDB missing"):
            check(pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"], f"{component}: PDB selector")
            if want.get("minAvailable") is not None:
                check(pdb["spec"].get("minAvailable") == want["minAvailable"] and "maxUnavailable" not in pdb["spec"],
                      f"{component}: PDB minAvailable")
            else:
                check(pdb["spec"].get("maxUnavailable") == want["maxUnavailable"], f"{component}: PDB maxUnavailable")

    # --- autoscaling ------------------------------------------------------------------------
    hpas = {o["metadata"]["name"]: o for o in of_kind("HorizontalPodAutoscaler")}
    if not separate:
        check(("PodDisruptionBudget", f"{fullname}-worker-media") not in objs, "media worker PDB without its Deployment")

    def check_behavior(name, b):
        up, down = b.get("scaleUp", {}), b.get("scaleDown", {})
        check(up.get("stabilizationWindowSeconds") == 0, f"{name}: scaleUp window 0")
        check(up.get("selectPolicy") == "Max", f"{name}: scaleUp selectPolicy Max")
        pol = {(p["type"], p["value"], p["periodSeconds"]) for p in up.get("policies", [])}
        check({("Percent", 100, 15), ("Pods", 4, 15)} <= pol, f"{name}: scaleUp policies {pol}")
        check(down.get("stabilizationWindowSeconds") == 300, f"{name}: scaleDown window 300")
        pol = {(p["type"], p["value"], p["periodSeconds"]) for p in down.get("policies", [])}
        check(("Percent", 20, 60) in pol, f"{name}: scaleDown policies {pol}")

    adapter_path = os.path.join(ROOT, "deploy", "prometheus-adapter", "values.yaml")
    with open(adapter_path) as f:
        adapter = yaml.safe_load(f)
    custom_names = {r["name"]["as"] for r in adapter["rules"].get("custom", [])}
    external_names = {r["name"]["as"] for r in adapter["rules"].get("external", [])}

    as_api = values["api"]["autoscaling"]
    hpa = hpas.get(f"{fullname}-api")
    if not as_api["enabled"]:
        check(hpa is None, "api HPA rendered though disabled")
    elif check(hpa, "api HPA missing"):
        check(hpa["apiVersion"] == "autoscaling/v2", "api HPA must be autoscaling/v2")
        check(hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{fullname}-api"},
              "api HPA target")
        check((hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (as_api["minReplicas"], as_api["maxReplicas"]),
              "api HPA min/max")
        m = hpa["spec"]["metrics"]
        cpu = [x for x in m if x["type"] == "Resource" and x["resource"]["name"] == "cpu"]
        check(cpu and cpu[0]["resource"]["target"] == {"type": "Utilization",
                                                       "averageUtilization": as_api["targetCPUUtilizationPercentage"]},
              "api HPA: CPU utilization metric")
        rps = [x for x in m if x["type"] == "Pods" and x["pods"]["metric"]["name"] == "tusk_http_requests_per_second"]
        check(rps and rps[0]["pods"]["target"] == {"type": "AverageValue",
                                                  "averageValue": str(as_api["targetRequestsPerSecond"])},
              "api HPA: Pods metric tusk_http_requests_per_second with averageValue")
        check("tusk_http_requests_per_second" in custom_names, "prometheus-adapter does not serve tusk_http_requests_per_second")
        check_behavior("api HPA", hpa["spec"].get("behavior", {}))

    as_w = values["worker"]["autoscaling"]
    mode = as_w["mode"]
    whpa = hpas.get(f"{fullname}-worker")
    scaled = objs.get(("ScaledObject", f"{fullname}-worker"))
    # queue -> target ready messages per replica; {prefix}.media (at the media target) unless separate
    queues = {f"{prefix}.{q}": as_w["targetQueueLength"] for q in ("deliver", "fanout", "notify")}
    if not separate:
        queues[f"{prefix}.media"] = mw["autoscaling"]["targetQueueLength"]
    check((whpa is not None) == (mode == "hpa"), f"worker HPA presence with mode {mode}")
    check((scaled is not None) == (mode == "keda"), f"worker ScaledObject presence with mode {mode}")
    if mode == "hpa" and whpa:
        check(whpa["spec"]["scaleTargetRef"]["name"] == f"{fullname}-worker", "worker HPA target")
        check((whpa["spec"]["minReplicas"], whpa["spec"]["maxReplicas"]) == (as_w["minReplicas"], as_w["maxReplicas"]),
              "worker HPA min/max")
        ext = [x["external"] for x in whpa["spec"]["metrics"] if x["type"] == "External"]
        got = {e["metric"].get("selector", {}).get("matchLabels", {}).get("queue"): e for e in ext
               if e["metric"]["name"] == "tusk_queue_messages_ready"}
        check(set(got) == set(queues), f"worker HPA queues {set(got)}, want {set(queues)}")
        for q, e in got.items():
            check(e["target"] == {"type": "AverageValue", "averageValue": str(queues.get(q))},
                  f"worker HPA queue {q} target {e['target']}")
        for e in ext:
            check(e["metric"]["name"] in external_names, f"prometheus-adapter does not serve {e['metric']['name']}")
        if as_w["targetFanoutLagSeconds"]:
            lag = [e for e in ext if "lag" in e["metric"]["name"]]
            check(lag and lag[0]["target"] == {"type": "Value", "value": str(as_w["targetFanoutLagSeconds"])},
                  "worker HPA lag metric")
        check_behavior("worker HPA", whpa["spec"].get("behavior", {}))
    if mode == "keda" and scaled:
        check(scaled["apiVersion"] == "keda.sh/v1alpha1", "ScaledObject apiVersion")
        s = scaled["spec"]
        check(s["scaleTargetRef"]["name"] == f"{fullname}-worker", "ScaledObject target")
        check((s["minReplicaCount"], s["maxReplicaCount"]) == (as_w["minReplicas"], as_w["maxReplicas"]), "ScaledObject min/max")
        check_behavior("ScaledObject", s["advanced"]["horizontalPodAutoscalerConfig"]["behavior"])
        rabbit = [t for t in s["triggers"] if t["type"] == "rabbitmq"]
        check(sorted(t["metadata"]["queueName"] for t in rabbit) == sorted(queues), f"rabbitmq triggers {rabbit}")
        for t in rabbit:
            md = t["metadata"]
            check(md.get("mode") == "QueueLength" and md.get("value") == str(queues.get(md.get("queueName"))),
                  f"rabbitmq trigger {md}")
            check("host" not in md, "rabbitmq host must come from the TriggerAuthentication, not inline")
            ta = objs.get(("TriggerAuthentication", t.get("authenticationRef", {}).get("name")))
            if check(ta, "rabbitmq trigger: TriggerAuthentication missing"):
                check(ta["apiVersion"] == "keda.sh/v1alpha1", "TriggerAuthentication apiVersion")
                refs = {r["parameter"]: r for r in ta["spec"]["secretTargetRef"]}
                check(refs.get("host", {}).get("key") == "AMQP_URL" and refs["host"]["name"] == secret_name,
                      f"TriggerAuthentication host from {refs.get('host')}")
        prom = [t for t in s["triggers"] if t["type"] == "prometheus"]
        if as_w["targetFanoutLagSeconds"] and check(len(prom) == 1, "want one prometheus trigger"):
            md = prom[0]["metadata"]
            check(LAG_CORE in md.get("query", ""), f"prometheus trigger query {md.get('query')}")
            check(md.get("threshold") == str(as_w["targetFanoutLagSeconds"]), "prometheus trigger threshold")
            check(md.get("serverAddress") == as_w["keda"]["serverAddress"], "prometheus trigger serverAddress")
            check(prom[0].get("metricType") == "Value", "lag trigger must be metricType Value")

    # --- media worker autoscaling: one signal, {prefix}.media ---------------------------------
    as_m = mw["autoscaling"]
    mname = f"{fullname}-worker-media"
    mhpa = hpas.get(mname)
    mscaled = objs.get(("ScaledObject", mname))
    check((mhpa is not None) == (separate and media_mode == "hpa"), f"media worker HPA presence (separate={separate}, mode {media_mode})")
    check((mscaled is not None) == (separate and media_mode == "keda"),
          f"media worker ScaledObject presence (separate={separate}, mode {media_mode})")
    media_behavior = as_m["behavior"] or as_w["behavior"]
    if mhpa:
        check(mhpa["apiVersion"] == "autoscaling/v2", "media worker HPA must be autoscaling/v2")
        check(mhpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": mname},
              "media worker HPA target")
        check((mhpa["spec"]["minReplicas"], mhpa["spec"]["maxReplicas"]) == (as_m["minReplicas"], as_m["maxReplicas"]),
              "media worker HPA min/max")
        check(mhpa["spec"]["metrics"] == [{"type": "External", "external": {
            "metric": {"name": "tusk_queue_messages_ready", "selector": {"matchLabels": {"queue": f"{prefix}.media"}}},
            "target": {"type": "AverageValue", "averageValue": str(as_m["targetQueueLength"])}}}],
            f"media worker HPA metrics {mhpa['spec']['metrics']}, want {prefix}.media only")
        check("tusk_queue_messages_ready" in external_names, "prometheus-adapter does not serve tusk_queue_messages_ready")
        check(mhpa["spec"].get("behavior") == media_behavior, "media worker HPA behavior")
        check_behavior("media worker HPA", mhpa["spec"].get("behavior", {}))
    if mscaled:
        s = mscaled["spec"]
        check(s["scaleTargetRef"]["name"] == mname, "media ScaledObject target")
        check((s["minReplicaCount"], s["maxReplicaCount"]) == (as_m["minReplicas"], as_m["maxReplicas"]), "media ScaledObject min/max")
        if as_m["fallbackReplicas"] is not None:
            check(s.get("fallback", {}).get("replicas") == as_m["fallbackReplicas"], "media ScaledObject fallback")
        check(s["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == media_behavior, "media ScaledObject behavior")
        check(s["advanced"]["horizontalPodAutoscalerConfig"].get("name") == mname, "media ScaledObject HPA name")
        trig = s["triggers"]
        if check(len(trig) == 1 and trig[0]["type"] == "rabbitmq", f"media ScaledObject triggers {trig}, want one rabbitmq"):
            md = trig[0]["metadata"]
            check(md.get("queueName") == f"{prefix}.media" and md.get("mode") == "QueueLength"
                  and md.get("value") == str(as_m["targetQueueLength"]), f"media rabbitmq trigger {md}")
            check("host" not in md, "media rabbitmq host must come from the TriggerAuthentication, not inline")
            ta = objs.get(("TriggerAuthentication", trig[0].get("authenticationRef", {}).get("name")))
            if check(ta, "media rabbitmq trigger: TriggerAuthentication missing"):
                refs = {r["parameter"]: r for r in ta["spec"]["secretTargetRef"]}
                check(refs.get("host", {}).get("key") == "AMQP_URL" and refs["host"]["name"] == secret_name,
                      f"TriggerAuthentication host from {refs.get('host')}")
    # {prefix}.media is watched by exactly one autoscaler (when any autoscales its consumer)
    watching = [o["metadata"]["name"] for o in of_kind("ScaledObject")
                if any(t.get("metadata", {}).get("queueName") == f"{prefix}.media" for t in o["spec"]["triggers"])]
    watching += [o["metadata"]["name"] for o in hpas.values()
                 if any(m.get("external", {}).get("metric", {}).get("selector", {}).get("matchLabels", {}).get("queue")
                        == f"{prefix}.media" for m in o["spec"]["metrics"])]
    media_owner = mname if separate else f"{fullname}-worker"
    media_scaled = (media_mode if separate else mode) in ("keda", "hpa")
    check(watching == ([media_owner] if media_scaled else []), f"autoscalers on {prefix}.media: {watching}, want {media_owner}")

    # --- Ingress ----------------------------------------------------------------------------
    ings = of_kind("Ingress")
    check(len(ings) == (1 if values["ingress"]["enabled"] else 0), "Ingress count")
    for ing in ings:
        check(ing["spec"].get("ingressClassName") == (values["ingress"]["className"] or None), "Ingress className")
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                b = p["backend"]["service"]
                check(b["name"] == f"{fullname}-api" and b["port"] == {"name": "http"}, f"Ingress backend {b}")
        check(len(ing["spec"].get("tls", [])) == len(values["ingress"]["tls"]), "Ingress tls")
        # media uploads: the body limit is always set, at least 100m (or 0, no limit)
        size = ing["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/proxy-body-size")
        n = nginx_size(size)
        upload = int(values["config"].get("TUSK_MAX_UPLOAD_BYTES", 0))
        check(n is not None and (n == 0 or n >= max(100 * 1024 ** 2, upload)),
              f"Ingress proxy-body-size {size!r}, want >= 100m and >= TUSK_MAX_UPLOAD_BYTES ({upload}), or 0")
        check(size == str(values["ingress"]["proxyBodySize"]), f"Ingress proxy-body-size {size!r} is not ingress.proxyBodySize")
        for k, v in values["ingress"]["annotations"].items():
            check(ing["metadata"]["annotations"].get(k) == v, f"Ingress annotation {k}")

    # --- monitoring CRDs --------------------------------------------------------------------
    sms = of_kind("ServiceMonitor")
    if not values["metrics"]["serviceMonitor"]["enabled"]:
        check(not sms, "ServiceMonitors rendered though disabled")
    elif check(len(sms) == len(tiers), f"want {len(tiers)} ServiceMonitors, got {len(sms)}"):
        selected = set()
        for sm in sms:
            check(sm["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
            for k, v in values["metrics"]["serviceMonitor"]["labels"].items():
                check(sm["metadata"]["labels"].get(k) == v, f"ServiceMonitor label {k}")
            sel = sm["spec"]["selector"]["matchLabels"]
            eps = sm["spec"]["endpoints"]
            check(eps and all(e.get("port") == "metrics" and e.get("interval") == values["metrics"]["serviceMonitor"]["interval"]
                              for e in eps), f"ServiceMonitor endpoints {eps}")
            for comp, ms in metrics_svcs.items():
                if all(ms["metadata"]["labels"].get(k) == v for k, v in sel.items()):
                    selected.add(comp)
            if svc:
                check(not all(svc["metadata"]["labels"].get(k) == v for k, v in sel.items()),
                      "ServiceMonitor must not select the public api Service")
        check(selected == {comp for _, _, comp, _ in tiers}, f"ServiceMonitors select the metrics Services of {selected}")

    # The other parts (PrometheusRule, dashboards) are checked only when their files exist.
    rules_dir = os.path.join(CHART, "files", "rules")
    rules_files = [f for f in os.listdir(rules_dir) if f.endswith(".yaml")] if os.path.isdir(rules_dir) else []
    for pr in of_kind("PrometheusRule"):
        check(pr["apiVersion"] == "monitoring.coreos.com/v1", "PrometheusRule apiVersion")
        check(pr.get("spec", {}).get("groups"), "PrometheusRule without groups")
        for g in pr["spec"].get("groups", []):
            check(g.get("name") and g.get("rules"), f"PrometheusRule group {g.get('name')} empty")
            for r in g.get("rules", []):
                check(r.get("expr") and (r.get("record") or r.get("alert")), f"PrometheusRule rule {r}")
    if values["metrics"]["prometheusRule"]["enabled"] and rules_files and os.path.exists(
            os.path.join(CHART, "templates", "prometheusrule.yaml")):
        check(of_kind("PrometheusRule"), "prometheusRule enabled and rules present, yet no PrometheusRule rendered")

    dash_cms = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] != fullname]
    for c in dash_cms:  # dashboards: valid JSON, labelled for the Grafana sidecar
        for k, v in c.get("data", {}).items():
            if k.endswith(".json"):
                try:
                    json.loads(v)
                except ValueError as e:
                    check(False, f"ConfigMap {c['metadata']['name']}: {k} is not JSON: {e}")
        for k, v in values["metrics"]["grafanaDashboards"]["labels"].items():
            check(c["metadata"].get("labels", {}).get(k) == v, f"dashboard ConfigMap {c['metadata']['name']}: label {k}")
    if not values["metrics"]["grafanaDashboards"]["enabled"]:
        check(not dash_cms, "dashboard ConfigMaps rendered though disabled")

    for o in docs:
        if o["kind"] == "ServiceMonitor" or o["kind"] == "PrometheusRule":
            check(o["apiVersion"] == "monitoring.coreos.com/v1", f"{o['kind']} apiVersion")
        if o["kind"] in ("ScaledObject", "TriggerAuthentication"):
            check(o["apiVersion"] == "keda.sh/v1alpha1", f"{o['kind']} apiVersion")
            check("spec" in o, f"{o['kind']} without spec")


if __name__ == "__main__":
    main()
    if failures:
        for f in failures:
            print(f"  FAIL: {f}", file=sys.stderr)
        sys.exit(1)
