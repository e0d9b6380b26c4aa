{{/*
Helpers of the Kube-Serverless chart. The templates use only the Go-template subset
listed in ../README.md (rendered and checked by test/helm-render.ts).
*/}}

{{/* The prefix of every object name: fullnameOverride, else "kube-serverless". */}}
{{- define "kss.fullname" -}}
{{- .Values.fullnameOverride | default "kube-serverless" | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The gateway's name: its ServiceAccount, Roles, Deployment, PDB and app.kubernetes.io/name label. */}}
{{- define "kss.gateway" -}}
{{- include "kss.fullname" . }}-gateway
{{- end -}}

{{/* Labels of every object. */}}
{{- define "kss.labels" -}}
app.kubernetes.io/part-of: kube-serverless
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: Helm
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* What selects the gateway's pods (Deployment, Service, PDB, NetworkPolicies). */}}
{{- define "kss.gatewaySelector" -}}
app.kubernetes.io/name: {{ include "kss.gateway" . }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/* Labels of the gateway's objects. */}}
{{- define "kss.gatewayLabels" -}}
{{ include "kss.labels" . }}
app.kubernetes.io/name: {{ include "kss.gateway" . }}
app.kubernetes.io/component: gateway
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* The Secret with basic-auth-user and basic-auth-password. */}}
{{- define "kss.adminSecret" -}}
{{- if .Values.auth.existingSecret -}}
{{ .Values.auth.existingSecret }}
{{- else -}}
{{ include "kss.fullname" . }}-admin
{{- end -}}
{{- end -}}

{{/* The gateway image. */}}
{{- define "kss.gatewayImage" -}}
{{ .Values.images.gateway.registry }}/{{ .Values.images.gateway.repository }}:{{ .Values.images.gateway.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Checks of values the schema cannot express; included by deployment.yaml. */}}
{{- define "kss.checks" -}}
{{- if eq .Values.functions.namespace .Release.Namespace -}}
{{ fail "functions.namespace must differ from the release namespace: NetworkPolicies isolate the functions' namespace" }}
{{- end -}}
{{- if not (or (eq .Values.networkPolicies.functionEgress "all") (eq .Values.networkPolicies.functionEgress "restricted")) -}}
{{ fail "networkPolicies.functionEgress: use all or restricted" }}
{{- end -}}
{{- end -}}
