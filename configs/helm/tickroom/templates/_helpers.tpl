{{/* Names and labels shared by every object. */}}
{{- define "tickroom.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tickroom.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tickroom.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* natsURLs joins the NATS hosts as user:password URLs; the password is the
     $(VAR) reference Kubernetes expands from the container's env. */}}
{{- define "tickroom.natsURLs" -}}
{{- $user := index . 0 -}}{{- $var := index . 1 -}}{{- $hosts := index . 2 -}}
{{- $urls := list -}}
{{- range $hosts -}}
{{- $urls = append $urls (printf "nats://%s:$(%s)@%s" $user $var .) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{- define "tickroom.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
