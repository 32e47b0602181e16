{{/*
Names, labels and derived values shared by the platform chart's templates.
*/}}

{{- define "storefront.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the Storefront resource and the prefix of every other object. The datastore
names add up to 20 characters to it, so it is kept to 40.
*/}}
{{- define "storefront.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "storefront.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "storefront.selectorLabels" -}}
app.kubernetes.io/name: {{ include "storefront.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels; templates add app.kubernetes.io/component themselves. */}}
{{- define "storefront.labels" -}}
helm.sh/chart: {{ include "storefront.chart" . }}
{{ include "storefront.selectorLabels" . }}
app.kubernetes.io/version: {{ include "storefront.version" . | quote }}
app.kubernetes.io/part-of: storefront
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels of the development datastores and the test pod. Their app.kubernetes.io/name is their
own ("postgresql", "redis", ...), never "storefront": the operator selects the API's pods by
name=storefront plus instance=<Storefront name>, and these pods must not fall under that
selector (Service, PDB, HPA, NetworkPolicy). Call with (dict "ctx" $ "component" NAME).
*/}}
{{- define "storefront.componentSelectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end }}

{{- define "storefront.componentLabels" -}}
helm.sh/chart: {{ include "storefront.chart" .ctx }}
{{ include "storefront.componentSelectorLabels" . }}
app.kubernetes.io/version: {{ default (include "storefront.version" .ctx) .version | trunc 63 | quote }}
app.kubernetes.io/component: {{ .role | default .component }}
app.kubernetes.io/part-of: storefront
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{- define "storefront.version" -}}
{{- default .Chart.AppVersion .Values.version }}
{{- end }}

{{/* The API image: repository@digest when a digest is set, else repository:tag. */}}
{{- define "storefront.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* repository:tag of a datastore image ({repository, tag}). */}}
{{- define "storefront.datastoreImage" -}}
{{- printf "%s:%s" .repository .tag }}
{{- end }}

{{- define "storefront.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "storefront.fullname" .) }}
{{- end }}

{{- define "storefront.redis.fullname" -}}
{{- printf "%s-redis" (include "storefront.fullname" .) }}
{{- end }}

{{- define "storefront.redis.headlessName" -}}
{{- printf "%s-redis-headless" (include "storefront.fullname" .) }}
{{- end }}

{{/* The Secret with the development PostgreSQL's password and URL. */}}
{{- define "storefront.postgresql.secretName" -}}
{{- default (include "storefront.postgresql.fullname" .) .Values.development.postgresql.existingSecret }}
{{- end }}

{{/* The Secret with the development Redis's password. */}}
{{- define "storefront.redis.secretName" -}}
{{- default (include "storefront.redis.fullname" .) .Values.development.redis.existingSecret }}
{{- end }}

{{/* The Secret the app reads its database URL from: explicit, else the development one. */}}
{{- define "storefront.database.secretName" -}}
{{- if .Values.database.secretRef.name }}
{{- .Values.database.secretRef.name }}
{{- else if .Values.development.enabled }}
{{- include "storefront.postgresql.secretName" . }}
{{- else }}
{{- fail "database.secretRef.name is required when development.enabled is false: name the Secret that holds the database URL" }}
{{- end }}
{{- end }}

{{/* The headless Service in front of the Redis cluster nodes. */}}
{{- define "storefront.redis.serviceName" -}}
{{- if .Values.redis.nodes.serviceName }}
{{- .Values.redis.nodes.serviceName }}
{{- else if .Values.development.enabled }}
{{- include "storefront.redis.headlessName" . }}
{{- else }}
{{- fail "redis.nodes.serviceName is required in cluster mode when development.enabled is false: name the headless Service of your Redis nodes" }}
{{- end }}
{{- end }}

{{/* The Secret with the Redis password, or nothing when Redis has none. */}}
{{- define "storefront.redis.passwordSecretName" -}}
{{- if .Values.redis.secretRef.name }}
{{- .Values.redis.secretRef.name }}
{{- else if .Values.development.enabled }}
{{- include "storefront.redis.secretName" . }}
{{- end }}
{{- end }}

{{/*
A password generated on first install and read back from the cluster on every upgrade, so
it never changes under a running database. Call with (dict "ctx" $ "secret" NAME "key" KEY).
*/}}
{{- define "storefront.persistentPassword" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}

{{/* Pod security context meeting Pod Security "restricted", shared by every pod. */}}
{{- define "storefront.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "storefront.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}
