package logtest

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWritersAndAReaderLoseNothing runs under -race in CI: a plain bytes.Buffer fails it.
func TestConcurrentWritersAndAReaderLoseNothing(t *testing.T) {
	t.Parallel()
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Logger().Info("request", "status", 200)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			_ = b.String()
		}
	})
	wg.Wait()
	if got := strings.Count(b.String(), "msg=request status=200\n"); got != 800 {
		t.Fatalf("%d complete records, want 800", got)
	}
}
