// Command loadgen measures inference throughput and latency at a fixed concurrency for a bounded time: over HTTP
// against a running `marina serve` (Open Inference Protocol v2), and in-process through inference.Session.Run on
// the same model and inputs; it prints both and the serving overhead as a ratio.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/marina-dev/marina/internal/inference"
)

// inputs are fixed iris-like examples, cycled through by every worker.
var inputs = [][]float32{
	{5.1, 3.5, 1.4, 0.2}, {4.9, 3.0, 1.4, 0.2}, {7.0, 3.2, 4.7, 1.4}, {6.4, 3.2, 4.5, 1.5},
	{6.3, 3.3, 6.0, 2.5}, {5.8, 2.7, 5.1, 1.9}, {5.7, 2.8, 4.1, 1.3}, {6.7, 3.0, 5.2, 2.3},
}

type result struct {
	name      string
	requests  int
	errors    int
	elapsed   time.Duration
	latencies []time.Duration
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
}

// load runs do from concurrency workers for d and collects each call's latency.
func load(name string, concurrency int, d time.Duration, do func(i int) error) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	res := result{name: name}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range concurrency {
		wg.Go(func() {
			var lat []time.Duration
			errs := 0
			for i := w; ctx.Err() == nil; i += concurrency {
				t := time.Now()
				if err := do(i); err != nil {
					errs++
					if errs == 1 {
						fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
					}
					continue
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			res.errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = len(res.latencies)
	slices.Sort(res.latencies)
	return res
}

func main() {
	modelFile := flag.String("model", "", "ONNX model file with input \"input\" float32 [batch,4] (required)")
	url := flag.String("url", "", "base URL of a running marina serve (required)")
	name := flag.String("name", "iris-classifier", "model name on the server")
	duration := flag.Duration("duration", 5*time.Second, "duration of each measurement")
	warmup := flag.Duration("warmup", time.Second, "unmeasured load before each measurement")
	concurrency := flag.Int("concurrency", 8, "concurrent workers")
	flag.Parse()
	if *modelFile == "" || *url == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*modelFile, *url, *name, *duration, *warmup, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(modelFile, url, name string, duration, warmup time.Duration, concurrency int) error {
	sess, err := inference.Load(modelFile)
	if err != nil {
		return err
	}
	defer sess.Close()
	inproc := func(i int) error {
		_, err := sess.Run([]inference.Tensor{{Name: "input", DType: inference.Float32, Shape: []int64{1, 4}, Float32: inputs[i%len(inputs)]}})
		return err
	}

	bodies := make([][]byte, len(inputs))
	for i, x := range inputs {
		bodies[i] = fmt.Appendf(nil, `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[%v,%v,%v,%v]}]}`, x[0], x[1], x[2], x[3])
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}, Timeout: 10 * time.Second}
	endpoint := url + "/v2/models/" + name + "/infer"
	overHTTP := func(i int) error {
		resp, err := client.Post(endpoint, "application/json", bytes.NewReader(bodies[i%len(bodies)]))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		if !bytes.Contains(b, []byte(`"probabilities"`)) {
			return errors.New("response without the output")
		}
		return nil
	}

	fmt.Printf("iris-classifier [1,4] float32, concurrency %d, %s per measurement (after %s warm-up), loopback\n\n", concurrency, duration, warmup)
	var results []result
	for _, m := range []struct {
		name string
		do   func(int) error
	}{{"in-process Session.Run", inproc}, {"marina serve (OIP v2 HTTP)", overHTTP}} {
		load(m.name, concurrency, warmup, m.do)
		results = append(results, load(m.name, concurrency, duration, m.do))
	}
	fmt.Printf("%-28s %12s %10s %10s %8s\n", "", "req/s", "p50", "p99", "errors")
	for _, r := range results {
		fmt.Printf("%-28s %12.0f %10s %10s %8d\n", r.name, r.rps(), r.percentile(0.50).Round(time.Microsecond), r.percentile(0.99).Round(time.Microsecond), r.errors)
	}
	in, srv := results[0], results[1]
	if srv.requests == 0 || in.requests == 0 {
		return errors.New("a measurement completed no requests")
	}
	fmt.Printf("\nserving overhead: throughput %.1fx lower, p50 latency %.1fx, p99 latency %.1fx (HTTP / in-process)\n",
		in.rps()/srv.rps(), float64(srv.percentile(0.50))/float64(in.percentile(0.50)), float64(srv.percentile(0.99))/float64(in.percentile(0.99)))
	if srv.errors > 0 || in.errors > 0 {
		return fmt.Errorf("%d HTTP and %d in-process errors", srv.errors, in.errors)
	}
	return nil
}
