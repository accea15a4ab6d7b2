// Command loadgen measures HTTP proxies for bench/router/run.sh: closed-loop (a fixed number of connections sending
// back to back: maximum throughput) or fixed-rate (requests scheduled at a constant rate whatever the answers;
// latency counts from the scheduled time, so a stalled server cannot hide its queue). With -targets it runs the whole
// comparison of marina router against nginx and direct-to-upstream and prints the table.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/marina-dev/marina/bench/internal/load"
)

const body = `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}`

// format is one measurement's line.
func format(r load.Result) string {
	return fmt.Sprintf("%8.0f req/s  p50 %9s  p99 %9s  errors %d", r.RPS(), r.Percentile(0.50).Round(time.Microsecond), r.Percentile(0.99).Round(time.Microsecond), r.Errors)
}

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true, IdleConnTimeout: time.Minute}}
}

// send posts one inference request and reads the whole answer.
func send(c *http.Client, url string) error {
	resp, err := c.Post(url, "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// run measures url for d after warm of the same load. rate 0 is closed-loop over conns connections; otherwise
// requests are scheduled every 1/rate and sent by conns workers.
func run(url string, rate, conns int, warm, d time.Duration) load.Result {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	if warm > 0 {
		measure(c, url, rate, conns, warm)
	}
	return measure(c, url, rate, conns, d)
}

func measure(c *http.Client, url string, rate, conns int, d time.Duration) load.Result {
	do := func(int) error { return send(c, url) }
	if rate == 0 {
		return load.ClosedLoop(conns, d, do)
	}
	return load.FixedRate(rate, conns, d, do)
}

// interleave measures each target in turn, rounds times, d/rounds each after warm, and merges each target's rounds:
// a burst of load from elsewhere on the machine then hits every target alike.
func interleave(targets map[string]string, names []string, rate, conns, rounds int, warm, d time.Duration) map[string]load.Result {
	out := map[string]load.Result{}
	for range rounds {
		for _, name := range names {
			r := out[name]
			r.Add(run(targets[name], rate, conns, warm, d/time.Duration(rounds)))
			out[name] = r
		}
	}
	return out
}

// suite is the comparison run.sh prints.
func suite(targets map[string]string, rate, conns, maxConns, rounds int, warm, d time.Duration) error {
	for _, name := range []string{"direct", "marina", "nginx", "marina-shadow", "nginx-shadow"} {
		if targets[name] == "" {
			return fmt.Errorf("-targets lacks %s=URL", name)
		}
	}
	print := func(rs map[string]load.Result, how string, names ...string) {
		for _, name := range names {
			fmt.Printf("  %-14s %s   %s\n", name, how, format(rs[name]))
		}
	}
	us := func(x time.Duration) float64 { return float64(x) / float64(time.Microsecond) }
	added := func(r, base load.Result, p float64) float64 { return us(r.Percentile(p)) - us(base.Percentile(p)) }

	// marina-base, when given, is marina built from another revision (run.sh BASELINE=REV): before and after, measured
	// alongside.
	with := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, n)
			if n == "marina" && targets["marina-base"] != "" {
				out = append(out, "marina-base")
			}
		}
		return out
	}

	fmt.Printf("added latency at %d req/s (%s each, in %d interleaved rounds after %s warm-up each):\n", rate, d, rounds, warm)
	at := interleave(targets, with("direct", "marina", "nginx"), rate, conns, rounds, warm, d)
	print(at, fmt.Sprintf("%d req/s fixed rate", rate), with("direct", "marina", "nginx")...)
	fmt.Printf("maximum throughput:\n")
	top := interleave(targets, with("marina", "nginx"), 0, maxConns, rounds, warm, d)
	print(top, fmt.Sprintf("%d connections closed loop", maxConns), with("marina", "nginx")...)
	fmt.Printf("10%% shadow to a slow upstream, %d req/s, against no shadow:\n", rate)
	sh := interleave(targets, []string{"marina", "marina-shadow", "nginx", "nginx-shadow"}, rate, conns, rounds, warm, d)
	print(sh, fmt.Sprintf("%d req/s fixed rate", rate), "marina", "marina-shadow", "nginx", "nginx-shadow")

	fmt.Printf("\nsummary\n")
	fmt.Printf("  added latency p50/p99       marina %+.0f/%+.0f µs   nginx %+.0f/%+.0f µs   (goal: marina p99 added < 300 µs)\n",
		added(at["marina"], at["direct"], 0.5), added(at["marina"], at["direct"], 0.99), added(at["nginx"], at["direct"], 0.5), added(at["nginx"], at["direct"], 0.99))
	fmt.Printf("  max throughput              marina %.0f req/s   nginx %.0f req/s   ratio marina/nginx %.2f   (goal >= 1)\n",
		top["marina"].RPS(), top["nginx"].RPS(), top["marina"].RPS()/top["nginx"].RPS())
	if base, ok := top["marina-base"]; ok {
		fmt.Printf("  baseline                    marina-base %.0f req/s   ratio marina-base/nginx %.2f   marina/marina-base %.2f; added p50/p99 %+.0f/%+.0f µs\n",
			base.RPS(), base.RPS()/top["nginx"].RPS(), top["marina"].RPS()/base.RPS(), added(at["marina-base"], at["direct"], 0.5), added(at["marina-base"], at["direct"], 0.99))
	}
	fmt.Printf("  p99 with shadow / without   marina %.2f   nginx %.2f   (goal: marina <= 1.05)\n",
		us(sh["marina-shadow"].Percentile(0.99))/us(sh["marina"].Percentile(0.99)), us(sh["nginx-shadow"].Percentile(0.99))/us(sh["nginx"].Percentile(0.99)))
	return nil
}

func main() {
	url := flag.String("url", "", "URL to measure (single measurement)")
	rate := flag.Int("rate", 0, "requests per second; 0 is closed-loop")
	conns := flag.Int("c", 64, "connections (closed loop: each sends back to back; fixed rate: workers)")
	maxConns := flag.Int("max-c", 32, "connections of the closed-loop throughput runs with -targets")
	d := flag.Duration("d", 3*time.Second, "duration of each measurement")
	warm := flag.Duration("warm", 300*time.Millisecond, "warm-up before each measurement (each round with -targets)")
	rounds := flag.Int("rounds", 3, "with -targets: interleaved rounds each measurement is split into")
	targets := flag.String("targets", "", "name=URL,… for direct, marina, nginx, marina-shadow, nginx-shadow, and optionally marina-base")
	flag.Parse()
	if *targets != "" {
		m := map[string]string{}
		for kv := range strings.SplitSeq(*targets, ",") {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		if *rate == 0 {
			*rate = 5000
		}
		if err := suite(m, *rate, *conns, *maxConns, *rounds, *warm, *d); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return
	}
	if *url == "" {
		fmt.Fprintln(os.Stderr, "pass -url URL or -targets name=URL,…")
		os.Exit(2)
	}
	fmt.Println(format(run(*url, *rate, *conns, *warm, *d)))
}
