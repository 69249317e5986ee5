{{/* Labels on every object of one component. */}}
{{- define "platform.labels" -}}
{{ include "platform.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: ai-platform
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{/* The labels a component's Deployment selects its pods by (and the policies select on). */}}
{{- define "platform.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* The image reference: by digest when one is given; a production render requires one. */}}
{{- define "platform.image" -}}
{{- $image := index .root.Values.images .key -}}
{{- if $image.digest -}}
{{- if not (regexMatch "^sha256:[a-f0-9]{64}$" $image.digest) -}}
{{- fail (printf "images.%s.digest must be sha256:<64 hex>, got %q" .key $image.digest) -}}
{{- end -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else if .root.Values.images.requireDigest -}}
{{- fail (printf "images.%s.digest is required in this environment (images.requireDigest)" .key) -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (required (printf "images.%s.tag or images.%s.digest is required" .key .key) $image.tag) -}}
{{- end -}}
{{- end }}

{{/*
checkov skips, each with its reason, as annotations on the object they apply to.
Pass "skips": a list of "CHECK_ID=reason" strings.
*/}}
{{- define "platform.checkovSkips" -}}
{{- range $index, $skip := .skips }}
checkov.io/skip{{ add1 $index }}: {{ $skip | quote }}
{{- end }}
{{- end }}

{{- define "platform.skip.namespace" -}}
CKV_K8S_21=The platform lives in the default namespace by contract: backends and the docs address gateway, litellm and redis as <name>.default.svc.cluster.local.
{{- end }}

{{- define "platform.skip.envSecrets" -}}
CKV_K8S_35=The service reads these credentials from its environment (pydantic-settings, LiteLLM's os.environ/ references); files would need code changes. The pod has no shell and a read-only root filesystem.
{{- end }}

{{/* Image-pinning skips apply only where an image is referenced by tag (test clusters). */}}
{{- define "platform.imageSkips" -}}
{{- $image := index .root.Values.images .key -}}
{{- if not $image.digest -}}
- CKV_K8S_43=Test-cluster images are built by the pipeline from this commit and side-loaded into k3s by tag; production requires digests (images.requireDigest).
- CKV_K8S_15=Side-loaded images exist only in the node's image store, so pullPolicy Always would fail to start the pod; production images are pinned by digest.
{{- end }}
{{- end }}

{{/* The restricted Pod Security profile, plus a fixed high UID. */}}
{{- define "platform.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "platform.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}
