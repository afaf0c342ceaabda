{{/* The release's name for an object of the chart: <release>-<part>, at most 63. */}}
{{- define "onceonly.name" -}}
{{- printf "%s-%s" .root.Release.Name .part | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "onceonly.labels" -}}
app.kubernetes.io/name: onceonly
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "onceonly.selector" -}}
app.kubernetes.io/name: onceonly
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .process }}
{{- end -}}

{{- define "onceonly.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end -}}

{{/* The secret files of a process: its own list if it has one, else its service's; and
Kafka's and Temporal's when used. */}}
{{- define "onceonly.secretFiles" -}}
{{- $values := .root.Values -}}
{{- $files := get ($values.processSecrets | default dict) (.process | default "") | default (index $values.serviceSecrets .service) | default list -}}
{{- if hasPrefix "SASL" $values.kafka.securityProtocol }}{{ $files = append $files "kafka-sasl-password" }}{{ end -}}
{{- if has $values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}{{ $files = append $files "kafka-ca.pem" }}{{ end -}}
{{- if and (eq .service "workflow") $values.temporal.tls -}}
{{- $files = append $files "temporal-ca.pem" -}}
{{- if $values.temporal.clientCertificate }}{{ $files = concat $files (list "temporal-client.pem" "temporal-client.key") }}{{ end -}}
{{- end -}}
{{ toJson $files }}
{{- end -}}

{{/* Every process's environment: the settings of docker-compose.yml's x-service-env. */}}
{{- define "onceonly.env" -}}
{{- $values := .root.Values -}}
- {name: ONCEONLY_ENVIRONMENT, value: {{ $values.environment | quote }}}
- {name: ONCEONLY_LOG_LEVEL, value: {{ $values.logLevel | quote }}}
- {name: ONCEONLY_TOPIC_PREFIX, value: {{ $values.topicPrefix | quote }}}
- {name: ONCEONLY_KAFKA_BOOTSTRAP, value: {{ $values.kafka.bootstrap | quote }}}
- {name: ONCEONLY_KAFKA_PARTITIONS, value: {{ $values.kafka.partitions | quote }}}
- {name: ONCEONLY_KAFKA_REPLICATION_FACTOR, value: {{ $values.kafka.replicationFactor | quote }}}
- {name: ONCEONLY_KAFKA_MIN_INSYNC_REPLICAS, value: {{ $values.kafka.minInsyncReplicas | quote }}}
- {name: ONCEONLY_KAFKA_SECURITY_PROTOCOL, value: {{ $values.kafka.securityProtocol | quote }}}
{{- if hasPrefix "SASL" $values.kafka.securityProtocol }}
- {name: ONCEONLY_KAFKA_SASL_MECHANISM, value: {{ $values.kafka.saslMechanism | quote }}}
- {name: ONCEONLY_KAFKA_SASL_USERNAME, value: {{ $values.kafka.saslUsername | quote }}}
{{- end }}
- {name: ONCEONLY_TEMPORAL_ADDRESS, value: {{ $values.temporal.address | quote }}}
- {name: ONCEONLY_TEMPORAL_NAMESPACE, value: {{ $values.temporal.namespace | quote }}}
- {name: ONCEONLY_TEMPORAL_TASK_QUEUE, value: {{ $values.temporal.taskQueue | quote }}}
{{- if $values.temporal.tls }}
- {name: ONCEONLY_TEMPORAL_TLS, value: "true"}
{{- with $values.temporal.serverName }}
- {name: ONCEONLY_TEMPORAL_TLS_SERVER_NAME, value: {{ . | quote }}}
{{- end }}
{{- end }}
{{- range $name, $port := $values.ports }}
- {name: {{ $name }}, value: {{ $port | quote }}}
{{- end }}
{{- /* In a pod the APIs and metrics endpoints listen on every interface. */}}
{{- range $name := list "ONCEONLY_INTAKE_HOST" "ONCEONLY_WORKFLOW_API_HOST" "ONCEONLY_TRACKING_HOST" "ONCEONLY_NOTIFY_HOST" }}
- {name: {{ $name }}, value: "0.0.0.0"}
{{- end }}
- {name: OTEL_TRACES_EXPORTER, value: {{ $values.telemetry.tracesExporter | quote }}}
- {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: {{ $values.telemetry.otlpEndpoint | quote }}}
- {name: OTEL_METRICS_EXPORTER, value: "none"}
- {name: OTEL_LOGS_EXPORTER, value: "none"}
- {name: OTEL_SERVICE_NAME, value: {{ .process | quote }}}
- {name: PYTHONUNBUFFERED, value: "1"}
{{- range $file := include "onceonly.secretFiles" . | fromJsonArray }}
- {name: {{ required (printf "secretFiles has no variable for %s" $file) (index $values.secretFiles $file) }}, value: {{ printf "/run/secrets/onceonly/%s" $file | quote }}}
{{- end }}
{{- range $name, $value := $values.extraEnv }}
- {name: {{ $name }}, value: {{ $value | quote }}}
{{- end }}
{{- end -}}

{{/* The pod's part every process and job shares: the image, security, secret files. */}}
{{- define "onceonly.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "onceonly.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}

{{- define "onceonly.volumes" -}}
- name: secrets
  secret:
    secretName: {{ .root.Values.secret.name }}
    # Readable by the pod's group (fsGroup 10001), the processes' user is in it.
    defaultMode: 0440
    items:
    {{- range $file := include "onceonly.secretFiles" . | fromJsonArray }}
    - {key: {{ $file | quote }}, path: {{ $file | quote }}}
    {{- end }}
# The root filesystem is read-only; faust's data directory and Python's temp files here.
- name: tmp
  emptyDir: {sizeLimit: 256Mi}
{{- end -}}

{{- define "onceonly.volumeMounts" -}}
- {name: secrets, mountPath: /run/secrets/onceonly, readOnly: true}
- {name: tmp, mountPath: /tmp}
{{- end -}}
