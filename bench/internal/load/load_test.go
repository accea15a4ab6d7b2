package load

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClosedLoopCountsSuccessesAndFailuresApart(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	boom := errors.New("boom")
	r := ClosedLoop(4, 50*time.Millisecond, func(i int) error {
		calls.Add(1)
		time.Sleep(time.Millisecond)
		if i%2 == 1 {
			return boom
		}
		return nil
	})
	if r.Requests+r.Errors != int(calls.Load()) || r.Requests == 0 || r.Errors == 0 {
		t.Fatalf("requests %d + errors %d, want both > 0 and %d calls in all", r.Requests, r.Errors, calls.Load())
	}
	if len(r.Latencies) != r.Requests || !errors.Is(r.Err, boom) {
		t.Errorf("latencies %d for %d requests, err %v: want one per request and the failure", len(r.Latencies), r.Requests, r.Err)
	}
	if r.Percentile(0.5) < time.Millisecond || r.Percentile(0.5) > r.Percentile(0.99) {
		t.Errorf("p50 %s, p99 %s: want at least the call's 1ms and ordered", r.Percentile(0.5), r.Percentile(0.99))
	}
}

func TestClosedLoopGivesEachCallItsOwnIndex(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[int]bool{}
	ClosedLoop(3, 20*time.Millisecond, func(i int) error {
		mu.Lock()
		defer mu.Unlock()
		if seen[i] {
			t.Errorf("index %d passed twice", i)
		}
		seen[i] = true
		return nil
	})
}

func TestFixedRateSendsTheScheduleWhateverTheAnswers(t *testing.T) {
	t.Parallel()
	r := FixedRate(200, 2, 100*time.Millisecond, func(int) error { return nil })
	// 200/s for 100 ms is 20 calls; on a loaded machine the deadline may fire late, and the schedule then runs on.
	if want := 200 * r.Elapsed.Seconds(); float64(r.Requests) > want+2 || r.Requests < 10 || r.Errors != 0 || r.Err != nil {
		t.Errorf("requests %d in %s, errors %d (%v): want 200/s and no failure", r.Requests, r.Elapsed, r.Errors, r.Err)
	}
}

func TestAddMergesMeasurementsKeepingLatenciesSorted(t *testing.T) {
	t.Parallel()
	first := errors.New("first")
	r := Result{Requests: 2, Errors: 1, Elapsed: time.Second, Latencies: []time.Duration{1, 5}, Err: first}
	r.Add(Result{Requests: 2, Errors: 1, Elapsed: time.Second, Latencies: []time.Duration{2, 3}, Err: errors.New("second")})
	if r.Requests != 4 || r.Errors != 2 || r.Elapsed != 2*time.Second || r.Err != first {
		t.Errorf("got %+v, want 4 requests, 2 errors, 2s and the first error", r)
	}
	if r.RPS() != 2 || r.Percentile(0) != 1 || r.Percentile(0.5) != 3 || r.Percentile(1) != 5 {
		t.Errorf("rps %v, p0 %v, p50 %v, p100 %v: want 2, 1, 3, 5", r.RPS(), r.Percentile(0), r.Percentile(0.5), r.Percentile(1))
	}
}
