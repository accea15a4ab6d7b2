package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/marina-dev/marina/internal/check"
)

// Replay's pace: ReplayBatch evaluation rows per request, one request every ReplayInterval (10 a second): enough
// samples for the analyses' minimum within a window, little CPU for the sandbox's node.
const (
	ReplayBatch    = 5
	ReplayInterval = 100 * time.Millisecond
)

// Replay is a bounded load generator: it posts a model's evaluation rows to an endpoint over the Open Inference
// Protocol (v2), ReplayBatch rows a request, one request per ReplayInterval, and counts the answers by the
// version that gave them (marina router's X-Marina-Version).
type Replay struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	counts ReplayCounts
}

// ReplayCounts is what a Replay sent, and the answers (200 OK) by the version that gave them ("" when no
// X-Marina-Version said).
type ReplayCounts struct {
	Sent     int
	Answered map[string]int
}

// Total is the number of answers.
func (c ReplayCounts) Total() int {
	total := 0
	for _, n := range c.Answered {
		total += n
	}
	return total
}

// String says what was sent and who answered.
func (c ReplayCounts) String() string {
	var by []string
	for _, v := range slices.Sorted(maps.Keys(c.Answered)) {
		by = append(by, fmt.Sprintf("%s %d", cmp.Or(v, "no version header"), c.Answered[v]))
	}
	return fmt.Sprintf("%d requests of %d evaluation rows sent, %d answered (%s)", c.Sent, ReplayBatch, c.Total(), strings.Join(by, ", "))
}

// EvalRows reads the evaluation set of model in the repository at dir (models/MODEL/eval/*.csv).
func EvalRows(dir, model string) (*check.EvalSet, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "models", model, "eval", "*.csv"))
	if len(files) == 0 {
		return nil, fmt.Errorf("no evaluation set models/%s/eval/*.csv in %s to replay through the model", model, dir)
	}
	var in []check.EvalFile
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		in = append(in, check.EvalFile{Name: f, Data: b})
	}
	return check.ParseEval(in)
}

// StartReplay replays set's rows to endpoint's model (endpoint: http://HOST:PORT) until Stop.
func StartReplay(endpoint, model string, set *check.EvalSet) *Replay {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Replay{cancel: cancel, done: make(chan struct{}), counts: ReplayCounts{Answered: map[string]int{}}}
	url := strings.TrimSuffix(endpoint, "/") + "/v2/models/" + model + "/infer"
	go func() {
		defer close(r.done)
		hc := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(ReplayInterval)
		defer tick.Stop()
		for i := 0; ; i += ReplayBatch {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var rows []float32
			for j := range ReplayBatch {
				rows = append(rows, set.X[(i+j)%len(set.X)]...)
			}
			body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "input",
				"shape": []int{ReplayBatch, len(set.Features)}, "datatype": "FP32", "data": rows}}})
			r.send(ctx, hc, url, body)
		}
	}()
	return r
}

func (r *Replay) send(ctx context.Context, hc *http.Client, url string, body []byte) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts.Sent++
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		r.counts.Answered[resp.Header.Get("X-Marina-Version")]++
	}
}

// Stop ends the load and returns what it sent and who answered.
func (r *Replay) Stop() ReplayCounts {
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts
}
