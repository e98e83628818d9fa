{{/* Names, labels, the image, the broker Secret and the security blocks every template shares. */}}

{{- define "celeriac.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "celeriac.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "celeriac.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels; call with (dict "root" $ "component" "operator"). */}}
{{- define "celeriac.selectorLabels" -}}
app.kubernetes.io/name: {{ include "celeriac.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "celeriac.labels" -}}
helm.sh/chart: {{ include "celeriac.chart" .root }}
{{ include "celeriac.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: celeriac
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "celeriac.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "celeriac.operatorServiceAccount" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (printf "%s-operator" (include "celeriac.fullname" .)) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "celeriac.redisName" -}}
{{- printf "%s-redis" (include "celeriac.fullname" .) -}}
{{- end -}}

{{/* The Secret and key holding the broker URL (CELERIAC_BROKER_URL). */}}
{{- define "celeriac.brokerSecret" -}}
{{- if and (not .Values.redis.enabled) .Values.broker.existingSecret -}}
{{- .Values.broker.existingSecret -}}
{{- else -}}
{{- printf "%s-broker" (include "celeriac.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "celeriac.brokerSecretKey" -}}
{{- if and (not .Values.redis.enabled) .Values.broker.existingSecret -}}
{{- .Values.broker.existingSecretKey -}}
{{- else -}}
broker-url
{{- end -}}
{{- end -}}

{{/* Refuse values that leave the broker undefined or defined twice. */}}
{{- define "celeriac.validateBroker" -}}
{{- $n := 0 -}}
{{- if .Values.redis.enabled }}{{ $n = add1 $n }}{{ end -}}
{{- if .Values.broker.url }}{{ $n = add1 $n }}{{ end -}}
{{- if .Values.broker.existingSecret }}{{ $n = add1 $n }}{{ end -}}
{{- if ne (int $n) 1 -}}
{{- fail "celeriac: set exactly one of broker.url, broker.existingSecret or redis.enabled=true" -}}
{{- end -}}
{{- end -}}

{{- define "celeriac.brokerEnv" -}}
- name: CELERIAC_BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "celeriac.brokerSecret" . }}
      key: {{ include "celeriac.brokerSecretKey" . }}
{{- end -}}

{{- define "celeriac.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "celeriac.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{/* Soft anti-affinity over nodes for a component; (dict "root" $ "component" "beat"). */}}
{{- define "celeriac.spreadAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "celeriac.selectorLabels" . | nindent 12 }}
{{- end -}}
