{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "tusk.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Truncated to 50 characters so that suffixes such as
"-worker-metrics" still fit in 63.
*/}}
{{- define "tusk.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "tusk.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels, on every object.
*/}}
{{- define "tusk.labels" -}}
helm.sh/chart: {{ include "tusk.chart" . }}
{{ include "tusk.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tusk
{{- end }}

{{/*
Selector labels (stable across upgrades: never add to these).
*/}}
{{- define "tusk.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tusk.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Per-tier labels. Call with (dict "ctx" $ "component" "api").
*/}}
{{- define "tusk.componentLabels" -}}
{{ include "tusk.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tusk.componentSelectorLabels" -}}
{{ include "tusk.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Name of the ServiceAccount the pods run as.
*/}}
{{- define "tusk.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tusk.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding DATABASE_URL, REDIS_URL and AMQP_URL.
*/}}
{{- define "tusk.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "tusk.fullname" . }}
{{- end }}
{{- end }}

{{/*
The image reference.
*/}}
{{- define "tusk.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
RabbitMQ queue names (operator contract: {prefix}.deliver and {prefix}.fanout).
*/}}
{{- define "tusk.queuePrefix" -}}
{{- .Values.config.TUSK_QUEUE_PREFIX | default "tusk" }}
{{- end }}

{{/*
Whether a tier is autoscaled (then its Deployment has no replicas field).
*/}}
{{- define "tusk.api.autoscaled" -}}
{{- if .Values.api.autoscaling.enabled }}true{{- end }}
{{- end }}

{{- define "tusk.worker.autoscaled" -}}
{{- if has .Values.worker.autoscaling.mode (list "keda" "hpa") }}true{{- end }}
{{- end }}

{{/*
Default fan-out lag query for the worker autoscalers: p99 of status created -> in follower feeds.
Guarded against NaN (no fan-out in the window makes histogram_quantile NaN, which some KEDA
versions turn into a huge negative number): NaN fails ">= 0" and "or vector(0)" yields 0.
*/}}
{{- define "tusk.worker.fanoutLagQuery" -}}
{{- if .Values.worker.autoscaling.fanoutLagQuery }}
{{- .Values.worker.autoscaling.fanoutLagQuery }}
{{- else -}}
(histogram_quantile(0.99, sum(rate(tusk_fanout_lag_seconds_bucket{namespace="{{ .Release.Namespace }}"}[2m])) by (le)) >= 0) or vector(0)
{{- end }}
{{- end }}

{{/*
The pod template shared by the api and worker Deployments.
Call with (dict "ctx" $ "component" "api" "tier" .Values.api "args" (list "api")).
*/}}
{{- define "tusk.podTemplate" -}}
{{- $ctx := .ctx }}
{{- $tier := .tier }}
{{- $component := .component -}}
metadata:
  annotations:
    checksum/config: {{ include (print $ctx.Template.BasePath "/configmap.yaml") $ctx | sha256sum }}
    {{- if not $ctx.Values.existingSecret }}
    checksum/secret: {{ include (print $ctx.Template.BasePath "/secret.yaml") $ctx | sha256sum }}
    {{- end }}
    {{- with (merge (dict) ($tier.podAnnotations | default dict) ($ctx.Values.podAnnotations | default dict)) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "tusk.componentLabels" (dict "ctx" $ctx "component" $component) | nindent 4 }}
    {{- with (merge (dict) ($tier.podLabels | default dict) ($ctx.Values.podLabels | default dict)) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "tusk.serviceAccountName" $ctx }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with $ctx.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $ctx.Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $tier.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $ctx.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ $component }}
      image: {{ include "tusk.image" $ctx | quote }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      args: {{ toJson .args }}
      ports:
        {{- if eq $component "api" }}
        - name: http
          containerPort: {{ $tier.port }}
          protocol: TCP
        {{- end }}
        - name: metrics
          containerPort: {{ $tier.adminPort }}
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "tusk.fullname" $ctx }}
      env:
        # credentials: DATABASE_URL, REDIS_URL, AMQP_URL
        {{- range $key := list "DATABASE_URL" "REDIS_URL" "AMQP_URL" }}
        - name: {{ $key }}
          valueFrom:
            secretKeyRef:
              name: {{ include "tusk.secretName" $ctx }}
              key: {{ $key }}
        {{- end }}
        {{- if eq $component "api" }}
        - name: TUSK_LISTEN
          value: {{ printf "0.0.0.0:%v" $tier.port | quote }}
        {{- end }}
        - name: TUSK_ADMIN_LISTEN
          value: {{ printf "0.0.0.0:%v" $tier.adminPort | quote }}
        - name: TUSK_SHUTDOWN_DELAY
          value: {{ $tier.shutdownDelaySeconds | quote }}
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: OTEL_SERVICE_NAME
          value: {{ printf "tusk-%s" $component | quote }}
        {{- if $ctx.Values.otel.endpoint }}
        - name: OTEL_EXPORTER_OTLP_ENDPOINT
          value: {{ $ctx.Values.otel.endpoint | quote }}
        - name: OTEL_RESOURCE_ATTRIBUTES
          value: {{ printf "service.namespace=%s,deployment.environment=%s,k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)" (include "tusk.fullname" $ctx) ($ctx.Values.otel.environment | default "production") | quote }}
        {{- with $ctx.Values.otel.tracesSamplerArg }}
        - name: OTEL_TRACES_SAMPLER
          value: parentbased_traceidratio
        - name: OTEL_TRACES_SAMPLER_ARG
          value: {{ . | quote }}
        {{- end }}
        {{- end }}
        {{- with $ctx.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $tier.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: metrics
        {{- toYaml $tier.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        {{- toYaml $tier.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: metrics
        {{- toYaml $tier.probes.readiness | nindent 8 }}
      resources:
        {{- toYaml $tier.resources | nindent 8 }}
      securityContext:
        {{- toYaml $ctx.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    # readOnlyRootFilesystem: a small writable /tmp in case a library wants one
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
  {{- $nodeSelector := $tier.nodeSelector | default $ctx.Values.nodeSelector }}
  {{- with $nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $tolerations := $tier.tolerations | default $ctx.Values.tolerations }}
  {{- with $tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $affinity := $tier.affinity | default $ctx.Values.affinity }}
  {{- with $affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $tier.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml $tier.topologySpreadConstraints | nindent 4 }}
  {{- else if $ctx.Values.topologySpread.enabled }}
  # spread replicas over zones and nodes, best effort (ScheduleAnyway), so that losing a
  # zone or a node takes only part of a tier
  topologySpreadConstraints:
    {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - maxSkew: {{ $ctx.Values.topologySpread.maxSkew }}
      topologyKey: {{ $key }}
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "tusk.componentSelectorLabels" (dict "ctx" $ctx "component" $component) | nindent 10 }}
      matchLabelKeys:
        - pod-template-hash
    {{- end }}
  {{- end }}
{{- end }}
