package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/marina-dev/marina/internal/model"
)

func main() {
	runs := flag.Int("runs", 3, "number of timed runs; the fastest is reported")
	flag.Parse()
	if flag.NArg() != 1 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "usage: hashbench [-runs N] FILE")
		os.Exit(2)
	}
	path := flag.Arg(0)
	var best time.Duration
	var digest string
	var size int64
	for i := range *runs {
		start := time.Now()
		d, n, err := model.DigestFile(path)
		elapsed := time.Since(start)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hashbench:", err)
			os.Exit(1)
		}
		fmt.Printf("run %d: %.3fs %.1f MiB/s\n", i+1, elapsed.Seconds(), mibps(n, elapsed))
		if i == 0 || elapsed < best {
			best = elapsed
		}
		digest, size = d, n
	}
	fmt.Printf("best mibps=%.1f seconds=%.3f size=%d digest=%s\n", mibps(size, best), best.Seconds(), size, digest)
}

func mibps(n int64, d time.Duration) float64 {
	return float64(n) / (1 << 20) / d.Seconds()
}
