{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "tusk.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Truncated to 48 characters so that the longest suffix of a Service
name, "-worker-metrics" (15), still fits in 63 (the media workers' metrics Service is cut
instead: tusk.workerMedia.metricsServiceName).
*/}}
{{- define "tusk.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" }}
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
RabbitMQ queue names (operator contract: {prefix}.fanout, .deliver, .notify, .media).
*/}}
{{- define "tusk.queuePrefix" -}}
{{- .Values.config.TUSK_QUEUE_PREFIX | default "tusk" }}
{{- end }}

{{/*
The queues the worker Deployment consumes once the media workers have their own Deployment
(`tusk worker --queues`): every work queue but media.
*/}}
{{- define "tusk.worker.nonMediaQueues" -}}
fanout,deliver,notify
{{- end }}

{{/*
The media worker Deployment (worker.media.separate) and the objects named after it.
*/}}
{{- define "tusk.workerMedia.name" -}}
{{- printf "%s-worker-media" (include "tusk.fullname" .) }}
{{- end }}

{{/*
Its metrics Service. The fullname's 48 characters leave 15 for a suffix and
"-worker-media-metrics" has 21, so the name is cut at 63 (a Service name is a DNS label); only
a fullname over 42 characters is affected.
*/}}
{{- define "tusk.workerMedia.metricsServiceName" -}}
{{- printf "%s-worker-media-metrics" (include "tusk.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
How the media workers scale: worker.media.autoscaling.mode, or the worker's when empty.
*/}}
{{- define "tusk.workerMedia.mode" -}}
{{- .Values.worker.media.autoscaling.mode | default .Values.worker.autoscaling.mode }}
{{- end }}

{{- define "tusk.workerMedia.autoscaled" -}}
{{- if and .Values.worker.media.separate (has (include "tusk.workerMedia.mode" .) (list "keda" "hpa")) }}true{{- end }}
{{- end }}

{{/*
The Secret holding TUSK_MEDIA_S3_ACCESS_KEY_ID and TUSK_MEDIA_S3_SECRET_ACCESS_KEY:
media.s3.existingSecret, else existingSecret, else the chart's Secret.
*/}}
{{- define "tusk.media.secretName" -}}
{{- .Values.media.s3.existingSecret | default (include "tusk.secretName" .) }}
{{- end }}

{{/*
Media settings that templates cannot express in the schema. Included by the ConfigMap, which
every install renders.
*/}}
{{- define "tusk.media.validate" -}}
{{- $m := .Values.media }}
{{- if and (eq $m.backend "local") (not $m.local.existingClaim) }}
{{- fail "media.backend local needs media.local.existingClaim: a PersistentVolumeClaim every api and worker pod mounts (ReadWriteMany across nodes). The api and worker pods share no disk, and an emptyDir would hide uploads from the workers and lose them with the pod; use media.backend s3 (object storage) instead if you can." }}
{{- end }}
{{- if eq $m.backend "s3" }}
{{- if not $m.s3.bucket }}{{ fail "media.s3.bucket is required with media.backend s3" }}{{ end }}
{{- if and (not $m.s3.existingSecret) (not .Values.existingSecret) (or (not $m.s3.accessKeyId) (not $m.s3.secretAccessKey)) }}
{{- fail "media.s3.accessKeyId and media.s3.secretAccessKey are required with media.backend s3 (or set media.s3.existingSecret, or existingSecret, to a Secret with the keys TUSK_MEDIA_S3_ACCESS_KEY_ID and TUSK_MEDIA_S3_SECRET_ACCESS_KEY)" }}
{{- end }}
{{- end }}
{{- $as := .Values.worker.media.autoscaling }}
{{- if include "tusk.workerMedia.autoscaled" . }}
{{- if lt (int $as.maxReplicas) (int $as.minReplicas) }}{{ fail "worker.media.autoscaling.maxReplicas must be >= minReplicas" }}{{ end }}
{{- if and (eq (include "tusk.workerMedia.mode" .) "hpa") (lt (int $as.minReplicas) 1) }}
{{- fail "worker.media.autoscaling.minReplicas 0 needs KEDA (mode keda): an HPA cannot scale to zero" }}
{{- end }}
{{- end }}
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
Call with (dict "ctx" $ "component" "api" "tier" .Values.api "args" (list "api")); optional:
"service" (the OTEL_SERVICE_NAME, default tusk-<component>) and "tmpSizeLimit" (/tmp, default
64Mi; the pods that process media need room for videos).
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
        {{- if eq $ctx.Values.media.backend "s3" }}
        # object storage credentials (the rest of media.* is in the ConfigMap)
        {{- range $key := list "TUSK_MEDIA_S3_ACCESS_KEY_ID" "TUSK_MEDIA_S3_SECRET_ACCESS_KEY" }}
        - name: {{ $key }}
          valueFrom:
            secretKeyRef:
              name: {{ include "tusk.media.secretName" $ctx }}
              key: {{ $key }}
        {{- end }}
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
          value: {{ .service | default (printf "tusk-%s" $component) | quote }}
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
        {{- if eq $ctx.Values.media.backend "local" }}
        - name: media
          mountPath: {{ $ctx.Values.media.local.root }}
        {{- end }}
  volumes:
    # readOnlyRootFilesystem: a writable /tmp, small unless the pod transcodes videos there
    - name: tmp
      emptyDir:
        sizeLimit: {{ .tmpSizeLimit | default "64Mi" }}
    {{- if eq $ctx.Values.media.backend "local" }}
    # media.backend local: the volume every api and worker pod shares
    - name: media
      persistentVolumeClaim:
        claimName: {{ $ctx.Values.media.local.existingClaim }}
    {{- end }}
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
