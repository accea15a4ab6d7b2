package load

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Result is one measurement.
type Result struct {
	// Requests counts the calls that succeeded, Errors the ones that failed.
	Requests, Errors int
	// Elapsed is how long the measurement ran.
	Elapsed time.Duration
	// Latencies are the successful calls' latencies, sorted.
	Latencies []time.Duration
	// Err is the first failure seen, nil when every call succeeded.
	Err error
}

// RPS is the successful calls per second.
func (r Result) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Percentile is the latency that a share p of the successful calls did not exceed; 0 without any.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[min(len(r.Latencies)-1, int(p*float64(len(r.Latencies))))]
}

// Add merges another measurement of the same target into r.
func (r *Result) Add(o Result) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Elapsed += o.Elapsed
	r.Latencies = append(r.Latencies, o.Latencies...)
	slices.Sort(r.Latencies)
	if r.Err == nil {
		r.Err = o.Err
	}
}

// ClosedLoop calls do from n workers, each call right after the previous one, for d: maximum throughput. Worker w
// passes w, w+n, w+2n, …, so that i cycles through inputs evenly.
func ClosedLoop(n int, d time.Duration, do func(i int) error) Result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var m meter
	start := time.Now()
	for w := range n {
		m.wg.Go(func() {
			var s series
			for i := w; ctx.Err() == nil; i += n {
				t := time.Now()
				s.call(t, do(i))
			}
			m.record(s)
		})
	}
	return m.result(start)
}

// FixedRate schedules rate calls of do per second for d, whatever the answers, and sends them from n workers, passing
// each call its number in the schedule. Latency counts from the scheduled time, so a stalled callee cannot hide its
// queue.
func FixedRate(rate, n int, d time.Duration, do func(i int) error) Result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var m meter
	start := time.Now()
	type call struct {
		i   int
		due time.Time
	}
	due := make(chan call, n)
	for range n {
		m.wg.Go(func() {
			var s series
			for c := range due {
				s.call(c.due, do(c.i))
			}
			m.record(s)
		})
	}
	interval := time.Second / time.Duration(rate)
	for i, next := 0, start; ctx.Err() == nil; i, next = i+1, next.Add(interval) {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		due <- call{i, next} // blocks when every worker is busy: the wait then counts in the latency
	}
	close(due)
	return m.result(start)
}

// series is what one worker measured.
type series struct {
	latencies []time.Duration
	errors    int
	err       error
}

// call records a call that started at t and ended now with err.
func (s *series) call(t time.Time, err error) {
	if err != nil {
		s.errors++
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.latencies = append(s.latencies, time.Since(t))
}

// meter collects the workers' series into one Result.
type meter struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	res Result
}

func (m *meter) record(s series) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res.Latencies = append(m.res.Latencies, s.latencies...)
	m.res.Errors += s.errors
	if m.res.Err == nil {
		m.res.Err = s.err
	}
}

// result waits for the workers and returns their measurement, which began at start.
func (m *meter) result(start time.Time) Result {
	m.wg.Wait()
	m.res.Elapsed = time.Since(start)
	m.res.Requests = len(m.res.Latencies)
	slices.Sort(m.res.Latencies)
	return m.res
}
