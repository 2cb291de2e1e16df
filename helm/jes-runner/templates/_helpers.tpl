{{/*
Expand the name of the chart.
*/}}
{{- define "jes-runner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release + chart name, unless the release name already contains it.
Truncated to 52 characters: a CronJob's Jobs append 11 (`-<timestamp>`).
*/}}
{{- define "jes-runner.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "jes-runner.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "jes-runner.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "jes-runner.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jes-runner.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Standard labels of every resource.
*/}}
{{- define "jes-runner.labels" -}}
helm.sh/chart: {{ include "jes-runner.chart" . }}
{{ include "jes-runner.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: jes-runner
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "jes-runner.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "jes-runner.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "jes-runner.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
The credentials Secret mounted as the secrets directory ("" when none).
*/}}
{{- define "jes-runner.secretName" -}}
{{- if .Values.credentials.existingSecret }}
{{- tpl .Values.credentials.existingSecret . }}
{{- else if .Values.credentials.create }}
{{- include "jes-runner.fullname" . }}
{{- end }}
{{- end }}

{{/*
The job config ConfigMap ("" when the image's built-in config is used).
*/}}
{{- define "jes-runner.jobConfigMapName" -}}
{{- if .Values.jobConfig.existingConfigMap }}
{{- tpl .Values.jobConfig.existingConfigMap . }}
{{- else if .Values.jobConfig.inline }}
{{- printf "%s-job-config" (include "jes-runner.fullname" .) }}
{{- end }}
{{- end }}

{{- define "jes-runner.claimName" -}}
{{- if .Values.persistence.existingClaim }}
{{- tpl .Values.persistence.existingClaim . }}
{{- else }}
{{- printf "%s-results" (include "jes-runner.fullname" .) }}
{{- end }}
{{- end }}

{{- define "jes-runner.secretsDir" -}}/var/run/secrets/jes{{- end }}
{{- define "jes-runner.jobConfigDir" -}}/etc/jes-runner/config{{- end }}
{{- define "jes-runner.caDir" -}}/etc/jes-runner/ca{{- end }}

{{/*
Pod termination grace: must outlast the runner's own grace after SIGTERM.
*/}}
{{- define "jes-runner.terminationGracePeriodSeconds" -}}
{{- $grace := int .Values.runner.gracePeriodSeconds }}
{{- if kindIs "invalid" .Values.cronjob.terminationGracePeriodSeconds }}
{{- add $grace 30 }}
{{- else }}
{{- $tgps := int .Values.cronjob.terminationGracePeriodSeconds }}
{{- if le $tgps $grace }}
{{- fail (printf "cronjob.terminationGracePeriodSeconds (%d) must be longer than runner.gracePeriodSeconds (%d): the runner needs that time to cancel jobs and write results" $tgps $grace) }}
{{- end }}
{{- $tgps }}
{{- end }}
{{- end }}

{{/*
Environment: the runner's settings (JES_*, names from jes_runner/settings.py),
then extraEnv. A name given in extraEnv replaces the chart's own entry.
*/}}
{{- define "jes-runner.env" -}}
{{- $r := .Values.runner }}
{{- $env := list }}
{{- with $r.viyaUrl }}{{ $env = append $env (dict "name" "JES_VIYA_URL" "value" (tpl . $)) }}{{ end }}
{{- with $r.pushgatewayUrl }}{{ $env = append $env (dict "name" "JES_PUSHGATEWAY_URL" "value" (tpl . $)) }}{{ end }}
{{- $env = append $env (dict "name" "JES_VERIFY_TLS" "value" (toString $r.verifyTls)) }}
{{- if or $r.caBundle.configMap $r.caBundle.secret }}
{{- $env = append $env (dict "name" "JES_CA_BUNDLE" "value" (printf "%s/%s" (include "jes-runner.caDir" .) $r.caBundle.key)) }}
{{- end }}
{{- $env = append $env (dict "name" "JES_LOG_FORMAT" "value" $r.logFormat) }}
{{- with $r.cluster }}{{ $env = append $env (dict "name" "JES_CLUSTER" "value" .) }}{{ end }}
{{- with $r.environment }}{{ $env = append $env (dict "name" "JES_ENVIRONMENT" "value" .) }}{{ end }}
{{- with $r.phases }}{{ $env = append $env (dict "name" "JES_PHASES" "value" (toJson .)) }}{{ end }}
{{- $env = append $env (dict "name" "JES_GRACE_PERIOD_SECONDS" "value" (toString $r.gracePeriodSeconds)) }}
{{- $env = append $env (dict "name" "JES_CANCEL_ORPHANS" "value" (toString $r.cancelOrphans)) }}
{{- $env = append $env (dict "name" "JES_OUTPUT_DIR" "value" .Values.persistence.mountPath) }}
{{- $env = append $env (dict "name" "JES_SECRETS_DIR" "value" (include "jes-runner.secretsDir" .)) }}
{{- if include "jes-runner.jobConfigMapName" . }}
{{- $env = append $env (dict "name" "JES_JOB_CONFIG" "value" (printf "%s/%s" (include "jes-runner.jobConfigDir" .) .Values.jobConfig.key)) }}
{{- end }}
{{- /* refreshed tokens: patched into the mounted Secret when the Role allows it, else kept in memory */}}
{{- $secret := include "jes-runner.secretName" . }}
{{- if and .Values.rbac.create .Values.rbac.tokenWriteBack $secret }}
{{- $env = append $env (dict "name" "JES_PERSIST_TOKENS" "value" "secret") }}
{{- $env = append $env (dict "name" "JES_TOKEN_SECRET_NAME" "value" $secret) }}
{{- $env = append $env (dict "name" "JES_TOKEN_SECRET_NAMESPACE" "value" (include "jes-runner.namespace" .)) }}
{{- else }}
{{- $env = append $env (dict "name" "JES_PERSIST_TOKENS" "value" "off") }}
{{- end }}
{{- /* node scaling timeline: from the Kubernetes API when the ClusterRole allows it */}}
{{- $timeline := $r.nodeTimeline | default (ternary "auto" "orchestrator" (and .Values.rbac.create .Values.rbac.nodeReader)) }}
{{- $env = append $env (dict "name" "JES_NODE_TIMELINE" "value" $timeline) }}
{{- with $r.computeNodeSelector }}{{ $env = append $env (dict "name" "JES_NODE_SELECTOR" "value" .) }}{{ end }}
{{- $extra := .Values.extraEnv | default list }}
{{- $extraNames := list }}
{{- range $extra }}{{ $extraNames = append $extraNames .name }}{{ end }}
{{- range $env }}
{{- if not (has .name $extraNames) }}
- name: {{ .name }}
  value: {{ .value | toString | quote }}
{{- end }}
{{- end }}
{{- with $extra }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}

{{/*
Volume mounts of the runner container.
*/}}
{{- define "jes-runner.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: results
  mountPath: {{ .Values.persistence.mountPath }}
{{- if include "jes-runner.secretName" . }}
- name: credentials
  mountPath: {{ include "jes-runner.secretsDir" . }}
  readOnly: true
{{- end }}
{{- if include "jes-runner.jobConfigMapName" . }}
- name: job-config
  mountPath: {{ include "jes-runner.jobConfigDir" . }}
  readOnly: true
{{- end }}
{{- if or .Values.runner.caBundle.configMap .Values.runner.caBundle.secret }}
- name: ca-bundle
  mountPath: {{ include "jes-runner.caDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}

{{/*
Volumes of the pod.
*/}}
{{- define "jes-runner.volumes" -}}
- name: tmp
  emptyDir:
    {{- with .Values.tmpSizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
- name: results
{{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "jes-runner.claimName" . }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- with include "jes-runner.secretName" . }}
- name: credentials
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    {{- with $.Values.credentials.existingSecretKeys }}
    {{- if $.Values.credentials.existingSecret }}
    items:
      {{- range $file, $key := . }}
      - key: {{ $key }}
        path: {{ $file }}
      {{- end }}
    {{- end }}
    {{- end }}
{{- end }}
{{- with include "jes-runner.jobConfigMapName" . }}
- name: job-config
  configMap:
    name: {{ . }}
    items:
      - key: {{ $.Values.jobConfig.key }}
        path: {{ $.Values.jobConfig.key }}
{{- end }}
{{- if .Values.runner.caBundle.configMap }}
- name: ca-bundle
  configMap:
    name: {{ tpl .Values.runner.caBundle.configMap . }}
    items:
      - key: {{ .Values.runner.caBundle.key }}
        path: {{ .Values.runner.caBundle.key }}
{{- else if .Values.runner.caBundle.secret }}
- name: ca-bundle
  secret:
    secretName: {{ tpl .Values.runner.caBundle.secret . }}
    defaultMode: 0444
    items:
      - key: {{ .Values.runner.caBundle.key }}
        path: {{ .Values.runner.caBundle.key }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}

{{/*
The runner's pod spec, shared by the CronJob and the `helm test` pod.
Call with (dict "root" $ "args" (list ...) "name" "jes-runner").
*/}}
{{- define "jes-runner.podSpec" -}}
{{- $ := .root }}
serviceAccountName: {{ include "jes-runner.serviceAccountName" $ }}
automountServiceAccountToken: {{ $.Values.serviceAccount.automountServiceAccountToken }}
restartPolicy: Never
enableServiceLinks: false
terminationGracePeriodSeconds: {{ include "jes-runner.terminationGracePeriodSeconds" $ }}
{{- with $.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $.Values.podSecurityContext | nindent 2 }}
containers:
  - name: {{ .name }}
    image: {{ include "jes-runner.image" $ | quote }}
    imagePullPolicy: {{ $.Values.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    env:
      {{- include "jes-runner.env" $ | trim | nindent 6 }}
    {{- with $.Values.extraEnvFrom }}
    envFrom:
      {{- tpl (toYaml .) $ | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml $.Values.securityContext | nindent 6 }}
    {{- with $.Values.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      {{- include "jes-runner.volumeMounts" $ | trim | nindent 6 }}
volumes:
  {{- include "jes-runner.volumes" $ | trim | nindent 2 }}
{{- with $.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
