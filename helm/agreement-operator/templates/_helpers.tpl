{{- define "agreement-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agreement-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "agreement-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agreement-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "agreement-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "agreement-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "agreement-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "agreement-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "agreement-operator.executionRoleArn" -}}
{{- if .Values.aws.executionRoleArn -}}
{{- .Values.aws.executionRoleArn -}}
{{- else if .Values.aws.accountId -}}
{{- printf "arn:aws:iam::%s:role/%s" (toString .Values.aws.accountId) .Values.aws.executionRoleName -}}
{{- else -}}
{{- fail "set aws.accountId (or aws.executionRoleArn): the metric functions need an execution role" -}}
{{- end -}}
{{- end -}}

{{- define "agreement-operator.serviceAccountAnnotations" -}}
{{- $annotations := dict -}}
{{- if .Values.aws.accountId -}}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" (printf "arn:aws:iam::%s:role/%s" (toString .Values.aws.accountId) .Values.aws.serviceAccountRoleName) -}}
{{- end -}}
{{- $annotations = merge (deepCopy .Values.serviceAccount.annotations) $annotations -}}
{{- if $annotations -}}
{{- toYaml $annotations -}}
{{- end -}}
{{- end -}}

{{- define "agreement-operator.peering" -}}
{{- include "agreement-operator.fullname" . -}}
{{- end -}}

{{/* Rules on resources in the watched namespaces. */}}
{{- define "agreement-operator.namespacedRules" -}}
# get: the periodic checks read a metric when one is due, and adoption asks whether an owner still exists.
- apiGroups: ["agreement.dev"]
  resources: ["agreementmetrics"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["agreement.dev"]
  resources: ["agreementmetrics/status"]
  verbs: ["patch"]
# RBAC cannot limit list/watch by label: the operator asks the apiserver only for ConfigMaps
# labelled agreement.dev/metric-code=true, but this rule would let it read any in its scope.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/*
The named Label Studio connections as the operator reads them (AGREEMENT_OPERATOR_LABEL_STUDIO_CONNECTIONS):
each key is a file the kubelet mounts from the connection's Secret.
*/}}
{{- define "agreement-operator.labelStudioConnections" -}}
{{- $connections := list -}}
{{- range .Values.labelStudio.connections -}}
{{- $namespaces := .namespaces | default (list $.Release.Namespace) -}}
{{- $connections = append $connections (dict "name" .name "url" (required (printf "labelStudio.connections[%s].url is required" .name) .url) "apiKeyFile" (printf "/etc/agreement-operator/label-studio/%s/apiKey" .name) "namespaces" $namespaces) -}}
{{- end -}}
{{- toJson $connections -}}
{{- end -}}
