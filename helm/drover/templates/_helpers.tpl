{{/*
Named templates shared by the chart's resources: names, labels, the checks of values that the
schema cannot express (fail with a message naming the field), the token file and the
controller's arguments.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "drover.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resource name prefix: fullnameOverride, else RELEASE-NAME (RELEASE alone if it already
contains the name). Kubernetes names are at most 63 characters. */}}
{{- define "drover.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "drover.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "drover.labels" -}}
helm.sh/chart: {{ include "drover.chart" . }}
{{ include "drover.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: drover
{{- end }}

{{/* Labels that select the controller's pods (immutable in a Deployment: never add to them). */}}
{{- define "drover.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drover.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "drover.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "drover.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "drover.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret holding the token file, and its key. */}}
{{- define "drover.authSecretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "drover.fullname" .)) }}
{{- end }}

{{- define "drover.authSecretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}tokens{{ end }}
{{- end }}

{{- define "drover.manifestsConfigMapName" -}}
{{- .Values.manifests.existingConfigMap | default (printf "%s-manifests" (include "drover.fullname" .)) }}
{{- end }}

{{/*
Cross-field rules that values.schema.json cannot state clearly. Included by the Deployment, so
`helm template` and `helm install` stop with one of these messages.
*/}}
{{- define "drover.validateValues" -}}
{{- $replicas := int .Values.replicaCount }}
{{- if and (eq .Values.store.type "sqlite") (gt $replicas 1) }}
{{- fail (printf "replicaCount: %d with store.type sqlite: the SQLite store runs exactly one replica (one process owns the database file on its volume). Set replicaCount: 1, or store.type: etcd with store.etcd.endpoints for several replicas (values-etcd-ha.yaml)." $replicas) }}
{{- end }}
{{- if and (eq .Values.store.type "etcd") (empty .Values.store.etcd.endpoints) }}
{{- fail "store.etcd.endpoints: store.type etcd needs at least one etcd endpoint (HOST:PORT), e.g. --set 'store.etcd.endpoints={etcd-0.etcd:2379}'" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tls.secretName: tls.enabled needs the name of a kubernetes.io/tls Secret (tls.crt, tls.key)" }}
{{- end }}
{{- if and .Values.auth.existingSecret .Values.serviceMonitor.enabled (not .Values.serviceMonitor.tokenSecret.name) }}
{{- fail "serviceMonitor.tokenSecret.name: with auth.existingSecret the chart does not know a reader token; name a Secret (and key) holding a reader:* token for Prometheus" }}
{{- end }}
{{- end }}

{{/*
The token file's tokens: each given one, else the one already in the release's Secret (so an
upgrade keeps it), else a new random one. Returns a dict admin/agent/metrics -> token.
*/}}
{{- define "drover.tokens" -}}
{{- $existing := (lookup "v1" "Secret" .Release.Namespace (include "drover.authSecretName" .)).data | default dict }}
{{- $tokens := dict }}
{{- range $role, $key := dict "admin" "admin-token" "agent" "agent-token" "metrics" "metrics-token" }}
{{- $given := get $.Values.auth (printf "%sToken" $role) }}
{{- $kept := get $existing $key }}
{{- $_ := set $tokens $role ($given | default ($kept | b64dec) | default (randAlphaNum 40)) }}
{{- end }}
{{- toYaml $tokens }}
{{- end }}

{{/* The scheme the controller serves. */}}
{{- define "drover.scheme" -}}
{{- if .Values.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/* `drover controller` arguments. */}}
{{- define "drover.args" -}}
- controller
- --listen=0.0.0.0:{{ .Values.controller.port }}
{{- if eq .Values.store.type "sqlite" }}
- --store=sqlite
- --data-dir={{ .Values.store.sqlite.dataDir }}
{{- else }}
- --store=etcd://{{ join "," .Values.store.etcd.endpoints }}
- --replica-id=$(POD_NAME)
- --advertise-address={{ .Values.controller.advertiseAddress | default (printf "%s://$(POD_IP):%d" (include "drover.scheme" .) (int .Values.controller.port)) }}
- --leader-elect-lease-duration={{ .Values.leaderElection.leaseDuration }}
- --leader-elect-renew-deadline={{ .Values.leaderElection.renewDeadline }}
- --leader-elect-retry-period={{ .Values.leaderElection.retryPeriod }}
{{- end }}
- --auth-token-file=/etc/drover/auth/tokens
{{- if .Values.tls.enabled }}
- --tls-cert=/etc/drover/tls/tls.crt
- --tls-key=/etc/drover/tls/tls.key
{{- end }}
{{- if .Values.manifests.enabled }}
- --manifests=/etc/drover/manifests
- --manifests-interval={{ .Values.manifests.interval }}
{{- end }}
- --log-format={{ .Values.controller.logFormat }}
- --log-level={{ .Values.controller.logLevel }}
{{- range .Values.controller.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
