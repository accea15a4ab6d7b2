// Command loadgen measures inference throughput and latency at a fixed concurrency for a bounded time: over HTTP
// against a running `marina serve` (Open Inference Protocol v2), and in-process through inference.Session.Run on
// the same model and inputs; it prints both and the serving overhead as a ratio.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/marina-dev/marina/bench/internal/load"
	"github.com/marina-dev/marina/internal/inference"
)

// inputs are fixed iris-like examples, cycled through by every worker.
var inputs = [][]float32{
	{5.1, 3.5, 1.4, 0.2}, {4.9, 3.0, 1.4, 0.2}, {7.0, 3.2, 4.7, 1.4}, {6.4, 3.2, 4.5, 1.5},
	{6.3, 3.3, 6.0, 2.5}, {5.8, 2.7, 5.1, 1.9}, {5.7, 2.8, 4.1, 1.3}, {6.7, 3.0, 5.2, 2.3},
}

// result is one named measurement.
type result struct {
	name string
	load.Result
}

// measure runs do closed-loop from concurrency workers for d and prints the first failure, which the table only
// counts.
func measure(name string, concurrency int, d time.Duration, do func(i int) error) result {
	r := load.ClosedLoop(concurrency, d, do)
	if r.Err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, r.Err)
	}
	return result{name: name, Result: r}
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
		measure(m.name, concurrency, warmup, m.do)
		results = append(results, measure(m.name, concurrency, duration, m.do))
	}
	fmt.Printf("%-28s %12s %10s %10s %8s\n", "", "req/s", "p50", "p99", "errors")
	for _, r := range results {
		fmt.Printf("%-28s %12.0f %10s %10s %8d\n", r.name, r.RPS(), r.Percentile(0.50).Round(time.Microsecond), r.Percentile(0.99).Round(time.Microsecond), r.Errors)
	}
	in, srv := results[0], results[1]
	if srv.Requests == 0 || in.Requests == 0 {
		return errors.New("a measurement completed no requests")
	}
	fmt.Printf("\nserving overhead: throughput %.1fx lower, p50 latency %.1fx, p99 latency %.1fx (HTTP / in-process)\n",
		in.RPS()/srv.RPS(), float64(srv.Percentile(0.50))/float64(in.Percentile(0.50)), float64(srv.Percentile(0.99))/float64(in.Percentile(0.99)))
	if srv.Errors > 0 || in.Errors > 0 {
		return fmt.Errorf("%d HTTP and %d in-process errors", srv.Errors, in.Errors)
	}
	return nil
}
