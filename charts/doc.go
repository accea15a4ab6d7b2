// Package charts renders marina's Helm chart (charts/marina) the way `helm template` does, for the tests that check
// what it installs and the tests that run marina under the permissions it grants. Its templates use nothing but
// value lookups ({{ .Values.x }}, {{ .Release.Namespace }}) and {{ if }}, so text/template renders them exactly as
// Helm does.
package charts
