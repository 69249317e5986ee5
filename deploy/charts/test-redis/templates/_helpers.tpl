{{- define "test-redis.selectorLabels" -}}
app.kubernetes.io/name: redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "test-redis.labels" -}}
{{ include "test-redis.selectorLabels" . }}
app.kubernetes.io/component: cache
app.kubernetes.io/part-of: ai-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "test-redis.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository .Values.image.tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}
{{- end }}

{{- define "test-redis.skips" -}}
- CKV_K8S_21=Stands in for the shared Redis, which lives in the default namespace as redis.default.svc.cluster.local.
{{- end }}
