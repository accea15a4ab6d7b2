package cli

import (
	"fmt"
	"io"
	"time"
)

// progressMin is the smallest amount of work worth a progress bar.
const progressMin = 64 << 20

// progress draws a one-line progress bar on a terminal as bytes are written to it.
type progress struct {
	out   io.Writer
	label string
	total int64
	done  int64
	start time.Time
	last  time.Time
}

// newProgress returns a byte counter that draws on errOut when it is a terminal and
// the work is large, and discards otherwise (CI logs stay clean).
func (g *globalOptions) newProgress(label string) func(total int64) io.Writer {
	return func(total int64) io.Writer {
		if total < progressMin || !isTerminal(g.errOut) {
			return io.Discard
		}
		now := time.Now()
		return &progress{out: g.errOut, label: label, total: total, start: now}
	}
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && p.done < p.total {
		return len(b), nil
	}
	p.last = now
	const width = 30
	filled := int(int64(width) * p.done / p.total)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < filled {
			bar[i] = '='
		}
	}
	rate := float64(p.done) / (1 << 20) / max(now.Sub(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.out, "\r%s [%s] %3d%% %6.0f MiB/s", p.label, bar, 100*p.done/p.total, rate)
	if p.done >= p.total {
		fmt.Fprintln(p.out)
	}
	return len(b), nil
}
