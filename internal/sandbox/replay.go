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

// Replay's pace: batch evaluation rows per request, one request every interval (10 a second): enough samples for
// the analyses' minimum within a window, little CPU for the sandbox's node.
const (
	replayBatch    = 5
	replayInterval = 100 * time.Millisecond
)

// replay is a bounded load generator: it posts a model's evaluation rows to an endpoint over the Open Inference
// Protocol (v2), replayBatch rows a request, one request per replayInterval, and counts the answers by the
// version that gave them (marina router's X-Marina-Version).
type replay struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	sent     int
	answered map[string]int
}

// evalRows reads the evaluation set of model in the repository at dir (models/MODEL/eval/*.csv).
func evalRows(dir, model string) (*check.EvalSet, error) {
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

// startReplay replays set's rows to endpoint's model until stop.
func startReplay(endpoint, model string, set *check.EvalSet) *replay {
	ctx, cancel := context.WithCancel(context.Background())
	r := &replay{cancel: cancel, done: make(chan struct{}), answered: map[string]int{}}
	url := strings.TrimSuffix(endpoint, "/") + "/v2/models/" + model + "/infer"
	go func() {
		defer close(r.done)
		hc := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(replayInterval)
		defer tick.Stop()
		for i := 0; ; i += replayBatch {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var rows []float32
			for j := range replayBatch {
				rows = append(rows, set.X[(i+j)%len(set.X)]...)
			}
			body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "input",
				"shape": []int{replayBatch, len(set.Features)}, "datatype": "FP32", "data": rows}}})
			r.send(ctx, hc, url, body)
		}
	}()
	return r
}

func (r *replay) send(ctx context.Context, hc *http.Client, url string, body []byte) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent++
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		r.answered[resp.Header.Get("X-Marina-Version")]++
	}
}

// stop ends the load and says what it sent and who answered.
func (r *replay) stop() string {
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	var by []string
	for _, v := range slices.Sorted(maps.Keys(r.answered)) {
		total += r.answered[v]
		by = append(by, fmt.Sprintf("%s %d", cmp.Or(v, "no version header"), r.answered[v]))
	}
	return fmt.Sprintf("%d requests of %d evaluation rows sent, %d answered (%s)", r.sent, replayBatch, total, strings.Join(by, ", "))
}
