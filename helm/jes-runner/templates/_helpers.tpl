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
{{- else if or .Values.jobConfig.json .Values.jobConfig.inline }}
{{- printf "%s-job-config" (include "jes-runner.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The profile (run kind): part of the Pushgateway group and every metric's labels.
*/}}
{{- define "jes-runner.profile" -}}
{{- .Values.runner.profile | default .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The scheduled profiles (JSON list): the alert rules' scope. One per target when
`targets` is set, else the single profile.
*/}}
{{- define "jes-runner.profiles" -}}
{{- $out := list }}
{{- range $t := (.Values.targets | default list) }}
{{- $out = append $out (include "jes-runner.targetProfile" (dict "root" $ "target" $t)) }}
{{- end }}
{{- if not $out }}{{ $out = list (include "jes-runner.profile" .) }}{{ end }}
{{- toJson $out }}
{{- end }}

{{/*
A target's profile: its own `profile`, else <release>-<target name>.
*/}}
{{- define "jes-runner.targetProfile" -}}
{{- .target.profile | default (printf "%s-%s" .root.Release.Name .target.name) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The runner-owned Secret for rotated tokens when the credentials Secret is not the chart's
(an operator's Secret is never patched; the runner reads this one back first).
*/}}
{{- define "jes-runner.tokenStoreSecretName" -}}
{{- if and .Values.credentials.existingSecret .Values.rbac.create .Values.rbac.tokenWriteBack }}
{{- with .Values.runner.targetName }}
{{- printf "%s-%s-tokens" (include "jes-runner.fullname" $) . }}
{{- else }}
{{- printf "%s-tokens" (include "jes-runner.fullname" .) }}
{{- end }}
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
{{- define "jes-runner.pushgatewayCaDir" -}}/etc/jes-runner/pushgateway-ca{{- end }}

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
Environment: the runner's settings (JES_*, names from jes_runner/config/settings.py),
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
{{- $env = append $env (dict "name" "JES_PROFILE" "value" (include "jes-runner.profile" .)) }}
{{- range $name, $v := dict "JES_MAX_FAILED_JOBS" $r.thresholds.maxFailedJobs "JES_MIN_SPEEDUP" $r.thresholds.minSpeedup "JES_MAX_QUEUE_WAIT_P95_SECONDS" $r.thresholds.maxQueueWaitP95Seconds "JES_JOB_TIMEOUT_S" $r.timeouts.jobSeconds "JES_CORRELATION_DEADLINE_S" $r.timeouts.correlationDeadlineSeconds "JES_REQUEST_TIMEOUT_S" $r.timeouts.requestSeconds }}
{{- if not (kindIs "invalid" $v) }}{{ $env = append $env (dict "name" $name "value" (toString $v)) }}{{ end }}
{{- end }}
{{- if $r.pushgatewayUrl }}
{{- $pg := $r.pushgateway }}
{{- with $pg.auth.existingSecret }}
{{- $sec := tpl . $ }}
{{- range $name, $key := dict "JES_PUSHGATEWAY_USERNAME" $pg.auth.usernameKey "JES_PUSHGATEWAY_PASSWORD" $pg.auth.passwordKey "JES_PUSHGATEWAY_TOKEN" $pg.auth.tokenKey }}
{{- if and $key (or (ne $name "JES_PUSHGATEWAY_USERNAME") (not $pg.auth.tokenKey)) (or (ne $name "JES_PUSHGATEWAY_PASSWORD") (not $pg.auth.tokenKey)) }}
{{- $env = append $env (dict "name" $name "valueFrom" (dict "secretKeyRef" (dict "name" $sec "key" $key))) }}
{{- end }}
{{- end }}
{{- end }}
{{- if or $pg.caBundle.configMap $pg.caBundle.secret }}
{{- $env = append $env (dict "name" "JES_PUSHGATEWAY_CA_BUNDLE" "value" (printf "%s/%s" (include "jes-runner.pushgatewayCaDir" .) $pg.caBundle.key)) }}
{{- end }}
{{- $env = append $env (dict "name" "JES_PUSHGATEWAY_TIMEOUT_S" "value" (toString $pg.timeoutSeconds)) }}
{{- $env = append $env (dict "name" "JES_PUSHGATEWAY_RETRIES" "value" (toString $pg.retries)) }}
{{- end }}
{{- with $r.phases }}{{ $env = append $env (dict "name" "JES_PHASES" "value" (toJson .)) }}
{{- else }}
{{- with $r.sequentialContext }}{{ $env = append $env (dict "name" "JES_SEQUENTIAL_CONTEXT" "value" .) }}{{ end }}
{{- with $r.concurrentContext }}{{ $env = append $env (dict "name" "JES_CONCURRENT_CONTEXT" "value" .) }}{{ end }}
{{- end }}
{{- $env = append $env (dict "name" "JES_GRACE_PERIOD_SECONDS" "value" (toString $r.gracePeriodSeconds)) }}
{{- $env = append $env (dict "name" "JES_CANCEL_ORPHANS" "value" (toString $r.cancelOrphans)) }}
{{- $out := .Values.persistence.mountPath }}
{{- with $r.targetName }}{{ $out = printf "%s/%s" (trimSuffix "/" $out) . }}{{ end }}
{{- $env = append $env (dict "name" "JES_OUTPUT_DIR" "value" $out) }}
{{- with .Values.cost }}
{{- if not (kindIs "invalid" .nodeHourPrice) }}{{ $env = append $env (dict "name" "JES_NODE_HOUR_PRICE" "value" (toString .nodeHourPrice)) }}{{ end }}
{{- with .currency }}{{ $env = append $env (dict "name" "JES_CURRENCY" "value" .) }}{{ end }}
{{- end }}
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
{{- if and .Values.credentials.existingSecret .Values.credentials.existingSecretKeys }}
{{- $env = append $env (dict "name" "JES_TOKEN_SECRET_KEYS" "value" (toJson .Values.credentials.existingSecretKeys)) }}
{{- end }}
{{- if and .Values.credentials.existingSecret .Values.credentials.operatorManaged }}
{{- $env = append $env (dict "name" "JES_TOKEN_SECRET_OPERATOR_MANAGED" "value" "true") }}
{{- end }}
{{- with include "jes-runner.tokenStoreSecretName" . }}
{{- $env = append $env (dict "name" "JES_TOKEN_STORE_SECRET_NAME" "value" .) }}
{{- end }}
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
{{- if hasKey . "valueFrom" }}
  valueFrom:
    {{- toYaml .valueFrom | nindent 4 }}
{{- else }}
  value: {{ .value | toString | quote }}
{{- end }}
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
{{- if and .Values.runner.pushgatewayUrl (or .Values.runner.pushgateway.caBundle.configMap .Values.runner.pushgateway.caBundle.secret) }}
- name: pushgateway-ca
  mountPath: {{ include "jes-runner.pushgatewayCaDir" . }}
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
{{- $emptyResults := .resultsEmptyDir }}
{{- $ := .root }}
{{- with $ }}
- name: tmp
  emptyDir:
    {{- with .Values.tmpSizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
- name: results
{{- if and .Values.persistence.enabled (not $emptyResults) }}
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
{{- $pgca := .Values.runner.pushgateway.caBundle }}
{{- if and .Values.runner.pushgatewayUrl $pgca.configMap }}
- name: pushgateway-ca
  configMap:
    name: {{ tpl $pgca.configMap . }}
    items:
      - key: {{ $pgca.key }}
        path: {{ $pgca.key }}
{{- else if and .Values.runner.pushgatewayUrl $pgca.secret }}
- name: pushgateway-ca
  secret:
    secretName: {{ tpl $pgca.secret . }}
    defaultMode: 0444
    items:
      - key: {{ $pgca.key }}
        path: {{ $pgca.key }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The runner's pod spec, shared by the CronJob and the `helm test` pod.
Call with (dict "root" $ "args" (list ...) "name" "jes-runner" ["resultsEmptyDir" true]):
the `helm test` pod never attaches the ReadWriteOnce results PVC a run may hold.
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
    {{- with .command }}
    command:
      {{- toYaml . | nindent 6 }}
    {{- end }}
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
  {{- include "jes-runner.volumes" (dict "root" $ "resultsEmptyDir" .resultsEmptyDir) | trim | nindent 2 }}
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

{{/*
The values of one cron field as a JSON list, in increasing order ("" when the
field uses something this parser does not read: names, `L`, `W`, `#`, `?`).
Call with (dict "field" FIELD "min" 0 "max" 59).
*/}}
{{- define "jes-runner.cronField" -}}
{{- $out := list }}
{{- $ok := true }}
{{- $parts := splitList "," .field }}
{{- range $v := untilStep (int .min) (int (add .max 1)) 1 }}
{{- $hit := false }}
{{- range $part := $parts }}
{{- $step := 1 }}
{{- $range := $part }}
{{- if contains "/" $part }}
{{- $range = index (splitList "/" $part) 0 }}
{{- $step = int (index (splitList "/" $part) 1) }}
{{- end }}
{{- $lo := 0 }}{{- $hi := 0 }}
{{- if eq $range "*" }}
{{- $lo = int $.min }}{{- $hi = int $.max }}
{{- else if contains "-" $range }}
{{- $lo = int (index (splitList "-" $range) 0) }}{{- $hi = int (index (splitList "-" $range) 1) }}
{{- else if regexMatch "^[0-9]+$" $range }}
{{- $lo = int $range }}{{- $hi = ternary (int $.max) $lo (contains "/" $part) }}
{{- else }}
{{- $ok = false }}
{{- end }}
{{- if not (regexMatch "^(\\*|[0-9]+(-[0-9]+)?)(/[1-9][0-9]*)?$" $part) }}{{ $ok = false }}{{ end }}
{{- if and $ok (ge $v $lo) (le $v $hi) (eq 0 (mod (sub $v $lo) (max $step 1))) }}{{ $hit = true }}{{ end }}
{{- end }}
{{- if $hit }}{{ $out = append $out $v }}{{ end }}
{{- end }}
{{- if and $ok $out }}{{ toJson $out }}{{ end }}
{{- end }}

{{/*
Longest gap between two runs of `cronjob.schedule`, in seconds ("" when the
schedule uses day of month, month or names: set prometheusRule.scheduleIntervalSeconds).
Runs repeat each day (day of week `*`) or each week; the gap wraps around.
*/}}
{{- define "jes-runner.scheduleGapSeconds" -}}
{{- $macros := dict "@hourly" "0 * * * *" "@daily" "0 0 * * *" "@midnight" "0 0 * * *" "@weekly" "0 0 * * 0" }}
{{- $sched := .Values.cronjob.schedule | trim }}
{{- $sched = get $macros $sched | default $sched }}
{{- $f := regexSplit "\\s+" $sched -1 }}
{{- if and (eq (len $f) 5) (eq (index $f 2) "*") (eq (index $f 3) "*") }}
{{- $mins := include "jes-runner.cronField" (dict "field" (index $f 0) "min" 0 "max" 59) }}
{{- $hours := include "jes-runner.cronField" (dict "field" (index $f 1) "min" 0 "max" 23) }}
{{- $dowField := index $f 4 }}
{{- $days := include "jes-runner.cronField" (dict "field" $dowField "min" 0 "max" 7) }}
{{- if and $mins $hours $days }}
{{- $period := ternary 1440 10080 (eq $dowField "*") }}
{{- $dayList := list }}
{{- if eq $dowField "*" }}{{ $dayList = list 0 }}{{ else }}
{{- range $d := fromJsonArray $days }}{{ $dd := mod (int $d) 7 }}{{ if not (has $dd $dayList) }}{{ $dayList = append $dayList $dd }}{{ end }}{{ end }}
{{- $dayList = sortAlpha (toStrings $dayList) }}
{{- end }}
{{- $times := list }}
{{- range $d := $dayList }}{{ range $h := fromJsonArray $hours }}{{ range $m := fromJsonArray $mins }}
{{- $times = append $times (add (mul (int $d) 1440) (mul (int $h) 60) (int $m)) }}
{{- end }}{{ end }}{{ end }}
{{- $gap := add (sub (first $times) (last $times)) $period }}
{{- $prev := first $times }}
{{- range $t := rest $times }}{{ $gap = max $gap (sub $t $prev) }}{{ $prev = $t }}{{ end }}
{{- mul $gap 60 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
prometheusRule.scheduleIntervalSeconds, or the gap derived from the schedule; fails when
neither is available or the two disagree.
*/}}
{{- define "jes-runner.scheduleIntervalSeconds" -}}
{{- $derived := include "jes-runner.scheduleGapSeconds" . }}
{{- $set := .Values.prometheusRule.scheduleIntervalSeconds }}
{{- if kindIs "invalid" $set }}
{{- if not $derived }}
{{- fail (printf "prometheusRule.scheduleIntervalSeconds: cannot derive the interval of cronjob.schedule %q (day of month, month or names); set prometheusRule.scheduleIntervalSeconds to the longest gap between runs in seconds" .Values.cronjob.schedule) }}
{{- end }}
{{- $derived }}
{{- else }}
{{- if and $derived (ne (int $set) (int $derived)) }}
{{- fail (printf "prometheusRule.scheduleIntervalSeconds (%d) disagrees with cronjob.schedule %q (longest gap %s s): leave it null to derive it" (int $set) .Values.cronjob.schedule $derived) }}
{{- end }}
{{- int $set }}
{{- end }}
{{- end }}

{{/*
"true" when some run pushes metrics ("" otherwise): the single runner or any target.
*/}}
{{- define "jes-runner.pushesMetrics" -}}
{{- if .Values.runner.pushgatewayUrl }}true{{ end }}
{{- end }}

{{/*
The Pushgateway's namespace read from runner.pushgatewayUrl (`http://<service>.<namespace>:9091`,
`<service>.<namespace>.svc[.cluster.local]`), "" when the host names no namespace (a bare
service name: the release namespace; an external host or an IP: use cidrs).
*/}}
{{- define "jes-runner.pushgatewayNamespace" -}}
{{- $url := tpl (.Values.runner.pushgatewayUrl | default "") . }}
{{- $host := regexReplaceAll "^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:@]*@)?([^/:]+).*$" $url "${2}" }}
{{- $parts := splitList "." $host }}
{{- if and (not (regexMatch "^[0-9.]+$" $host)) (or (eq (len $parts) 2) (and (ge (len $parts) 3) (eq (index $parts 2) "svc"))) }}
{{- index $parts 1 }}
{{- end }}
{{- end }}

{{/*
"true" when the runner talks to the Kubernetes API server (token write-back into a Secret,
the node timeline), so the NetworkPolicy lets it out; networkPolicy.kubeApi.enabled: auto|true|false.
*/}}
{{- define "jes-runner.needsKubeApi" -}}
{{- $on := toString .Values.networkPolicy.kubeApi.enabled }}
{{- if eq $on "true" }}true
{{- else if eq $on "auto" }}
{{- if and .Values.rbac.create (or (and .Values.rbac.tokenWriteBack (include "jes-runner.secretName" .)) .Values.rbac.nodeReader) }}true{{ end }}
{{- end }}
{{- end }}

{{/*
Apply one `targets` entry to a deep copy of the values (call with
(dict "values" COPY "target" T "root" $); mutates COPY, renders nothing). What the
target leaves out keeps the single runner's value.
*/}}
{{- define "jes-runner.applyTarget" -}}
{{- $v := .values }}{{- $t := .target }}
{{- $_ := set $v.runner "viyaUrl" $t.viyaUrl }}
{{- $_ := set $v.runner "profile" (include "jes-runner.targetProfile" (dict "root" .root "target" $t)) }}
{{- $_ := set $v.runner "targetName" $t.name }}
{{- with $t.environment }}{{ $_ := set $v.runner "environment" . }}{{ end }}
{{- with $t.phases }}{{ $_ := set $v.runner "phases" . }}{{ end }}
{{- with $t.schedule }}{{ $_ := set $v.cronjob "schedule" . }}{{ end }}
{{- with $t.existingSecret }}{{ $_ := set $v.credentials "existingSecret" . }}{{ end }}
{{- end }}


{{/*
trend.enabled: the container runs a small POSIX shell script instead of the bare
entrypoint: the run (its arguments after the script), SIGTERM/SIGINT forwarded to it so
its grace period still cancels jobs and writes `aborted` results (the trap is set before
the run starts, so a signal in between is not lost), then
`jes-runner trend DIR --out DIR`; the pod's exit code stays the run's.
*/}}
{{- define "jes-runner.trendScript" -}}
term= pid=
trap 'term=1; [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null' TERM INT
jes-runner "$@" & pid=$!
[ -z "$term" ] || kill -TERM "$pid" 2>/dev/null
wait "$pid"; rc=$?
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done
jes-runner trend "$JES_OUTPUT_DIR" --out "$JES_OUTPUT_DIR" || echo "trend: failed (exit $?), the run's results are kept" >&2
exit "$rc"
{{- end }}

{{/*
Render the named template "template" once per run: the release itself, or each
`targets` entry (a copy of the values with the target applied). Call with
(dict "root" $ "template" NAME); NAME gets (dict "ctx" CONTEXT "index" I).
*/}}
{{- define "jes-runner.eachRun" -}}
{{- $root := .root }}
{{- $contexts := list $root }}
{{- with $root.Values.targets }}
{{- $contexts = list }}
{{- range $t := . }}
{{- $v := deepCopy $root.Values }}
{{- $_ := include "jes-runner.applyTarget" (dict "values" $v "target" $t "root" $root) }}
{{- $contexts = append $contexts (dict "Values" $v "Release" $root.Release "Chart" $root.Chart "Files" $root.Files "Capabilities" $root.Capabilities "Template" $root.Template) }}
{{- end }}
{{- end }}
{{- range $i, $ctx := $contexts }}
{{- include $.template (dict "ctx" $ctx "index" $i) }}
{{- end }}
{{- end }}

{{/* one JSON line per run: its credentials Secret, the verbs on it, its token store */}}
{{- define "jes-runner.runSecrets" -}}
{{- $ := .ctx }}
{{- $secret := include "jes-runner.secretName" $ }}
{{- if $secret }}
{{- $readOnly := and (not (empty $.Values.credentials.existingSecret)) $.Values.credentials.operatorManaged }}
{{- dict "secret" $secret "readOnly" $readOnly "store" (include "jes-runner.tokenStoreSecretName" $) | toJson }}
{{ end }}
{{- end }}

{{/* the JSON lines of "jes-runner.runSecrets" as a list of dicts, one per run */}}
{{- define "jes-runner.allRunSecrets" -}}
{{- $out := list }}
{{- range $line := splitList "\n" (include "jes-runner.eachRun" (dict "root" . "template" "jes-runner.runSecrets")) }}
{{- if $line }}{{ $out = append $out (fromJson $line) }}{{ end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* the longest schedule gap of all runs, in seconds (alert spans cover the slowest schedule) */}}
{{- define "jes-runner.runGap" -}}
{{ include "jes-runner.scheduleIntervalSeconds" .ctx }},
{{- end }}
{{- define "jes-runner.longestScheduleGap" -}}
{{- $gap := 0 }}
{{- range $g := splitList "," (include "jes-runner.eachRun" (dict "root" . "template" "jes-runner.runGap")) }}
{{- $g = trim $g }}
{{- if $g }}{{ $gap = max $gap (int $g) }}{{ end }}
{{- end }}
{{- $gap }}
{{- end }}
