package prereq_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/prereq"
)

// outcome records what Missing did to a test; like testing.T's, Fatal and Skip end the goroutine.
type outcome struct {
	testing.TB
	failed, skipped string
}

func (o *outcome) Helper() {}
func (o *outcome) Fatal(args ...any) {
	o.failed = fmt.Sprint(args...)
	runtime.Goexit()
}
func (o *outcome) Skip(args ...any) {
	o.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

// missing runs prereq.Missing on a goroutine of its own, as a test would, and returns what it did.
func missing(msg string) *outcome {
	o := &outcome{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		prereq.Missing(o, msg)
	}()
	<-done
	return o
}

// Not parallel: the cases set environment variables.
func TestMissingFailsWhereTheRunRequiresPrerequisitesAndSkipsElsewhere(t *testing.T) {
	for _, tc := range []struct {
		name, ci, require string
		fail              bool
	}{
		{name: "a developer's run skips", fail: false},
		{name: "CI=true fails", ci: "true", fail: true},
		{name: "make test's MARINA_REQUIRE_ASSETS=1 fails without CI", require: "1", fail: true},
		{name: "CI=false with nothing required skips", ci: "false", fail: false},
		{name: "MARINA_REQUIRE_ASSETS=0 skips", require: "0", fail: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			t.Setenv(prereq.RequireEnv, tc.require)
			o := missing("kube-apiserver not found: run hack/controlplane.sh")
			if tc.fail {
				if o.failed == "" || o.skipped != "" {
					t.Fatalf("want a failure, got failed=%q skipped=%q", o.failed, o.skipped)
				}
			} else if o.skipped != "kube-apiserver not found: run hack/controlplane.sh" || o.failed != "" {
				t.Fatalf("want a skip with the hint, got failed=%q skipped=%q", o.failed, o.skipped)
			}
			if got := o.failed + o.skipped; got == "" || !strings.Contains(got, "hack/controlplane.sh") {
				t.Fatalf("the message lost the hint: %q", got)
			}
		})
	}
}
