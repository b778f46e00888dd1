{{/*
Metadata lines of an object: its own labels with commonLabels added (its own
win), and its own annotations with commonAnnotations added. Nothing at all when
both are empty, so that an object config/ gives no labels has none here either.
Call with (dict "ctx" $ "labels" (dict ...) "annotations" (dict ...)).
*/}}
{{- define "sbo.metadata" -}}
{{- $metadata := dict -}}
{{- with merge (dict) (.labels | default dict) .ctx.Values.commonLabels }}{{ $_ := set $metadata "labels" . }}{{ end -}}
{{- with merge (dict) (.annotations | default dict) .ctx.Values.commonAnnotations }}{{ $_ := set $metadata "annotations" . }}{{ end -}}
{{- with $metadata }}{{ toYaml . }}{{ end -}}
{{- end }}

{{/* The label every object of the operator carries. */}}
{{- define "sbo.name" -}}
security-baseline-operator
{{- end }}

{{/* The operator's pods, as the Deployment, the Service and the PDB select them. */}}
{{- define "sbo.selector" -}}
app.kubernetes.io/name: {{ include "sbo.name" . }}
app.kubernetes.io/component: manager
{{- end }}

{{- define "sbo.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* What the chart refuses, with a message saying why. */}}
{{- define "sbo.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicas=%d needs leaderElection.enabled=true: without a leader every replica would write" (int .Values.replicas)) -}}
{{- end -}}
{{- if and .Values.metrics.certSecret (not .Values.metrics.secure) -}}
{{- fail "metrics.certSecret is set but metrics.secure=false: the certificate would not be used" -}}
{{- end -}}
{{- end }}
