package tbtest

import (
	"slices"
	"testing"
)

func TestFailuresRecordsErrorsAndEndsAtAFatal(t *testing.T) {
	t.Parallel()
	reached := false
	got := Failures(t, func(tb testing.TB) {
		tb.Errorf("one %d", 1)
		tb.Error("two")
		if !tb.Failed() {
			t.Error("Failed() = false after Errorf")
		}
		tb.Fatal("three")
		reached = true
	})
	if want := []string{"one 1", "two", "three"}; !slices.Equal(got, want) {
		t.Errorf("Failures = %q, want %q", got, want)
	}
	if reached {
		t.Error("f went on after Fatal")
	}
	if got := Failures(t, func(tb testing.TB) { tb.Logf("fine") }); got != nil {
		t.Errorf("Failures of a passing f = %q, want nil", got)
	}
}
