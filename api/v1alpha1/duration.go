package v1alpha1

import "time"

// DurationString is a duration as time.ParseDuration reads it (30s, 10m, 1h30m), kept as written: a client that
// writes the object back does not turn 10m into 10m0s, which GitOps tools would show as drift from Git.
//
// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
type DurationString string

// Duration parses d.
func (d DurationString) Duration() (time.Duration, error) {
	return time.ParseDuration(string(d))
}
