{{/* Names and labels. */}}
{{- define "supportbot.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "supportbot.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "supportbot.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "supportbot.secretName" -}}
{{- .Values.existingSecret | default (include "supportbot.fullname" .) -}}
{{- end -}}

{{- define "supportbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "supportbot.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "supportbot.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* A secret value as an env var, optional so an unused platform's key may be absent. */}}
{{- define "supportbot.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "supportbot.secretName" .root }}
      key: {{ .key }}
      optional: {{ .optional | default false }}
{{- end -}}

{{/* The environment every supportbot container gets. */}}
{{- define "supportbot.env" -}}
- name: QDRANT_URL
  value: {{ .Values.qdrant.url | quote }}
- name: SUPPORTBOT_COLLECTION
  value: {{ .Values.qdrant.collection | quote }}
- name: SUPPORTBOT_DATABASE_AUTO_UPGRADE
  value: "false"
- name: SUPPORTBOT_SOURCES_FILE
  value: /config/none.toml
{{ include "supportbot.secretEnv" (dict "root" . "name" "SUPPORTBOT_DATABASE_URL" "key" .Values.secretKeys.databaseUrl) }}
{{ include "supportbot.secretEnv" (dict "root" . "name" "QDRANT_API_KEY" "key" .Values.secretKeys.qdrantApiKey "optional" true) }}
{{ include "supportbot.secretEnv" (dict "root" . "name" "SUPPORTBOT_OPENAI_API_KEY" "key" .Values.secretKeys.openaiApiKey "optional" true) }}
{{- end -}}

{{/* Probes on a port: /healthz for liveness, /readyz for readiness and start-up. */}}
{{- define "supportbot.probes" -}}
startupProbe:
  httpGet: { path: /readyz, port: {{ .port }} }
  {{- toYaml .root.Values.probes.startup | nindent 2 }}
livenessProbe:
  httpGet: { path: /healthz, port: {{ .port }} }
  {{- toYaml .root.Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet: { path: /readyz, port: {{ .port }} }
  {{- toYaml .root.Values.probes.readiness | nindent 2 }}
{{- end -}}

{{/* The schema migration, as an init container: replicas starting together take turns
     (a PostgreSQL advisory lock), and the bot refuses an outdated schema. */}}
{{- define "supportbot.migrate" -}}
- name: migrate
  image: {{ include "supportbot.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["db", "upgrade"]
  env:
    {{- include "supportbot.env" . | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - { name: data, mountPath: /data }
    - { name: tmp, mountPath: /tmp }
{{- end -}}

{{- define "supportbot.pod" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ include "supportbot.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
