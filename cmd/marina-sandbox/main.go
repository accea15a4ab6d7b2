// Command marina-sandbox is the supervisor of `marina sandbox`: `marina sandbox up` builds it from marina's source
// tree and runs it. It links internal/testenv (the control plane, the real node, the registry, Flux), which the
// marina binary must not. Users run marina sandbox, not this.
//
//	marina-sandbox prepare                                  run the hack/ scripts (in the source tree); NAME=PATH lines on stdout
//	marina-sandbox supervise --dir DIR --marina BIN [--repo R]  start the sandbox, run it until SIGTERM, tear it down
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/marina-dev/marina/internal/sandbox"
	"github.com/marina-dev/marina/internal/sandbox/supervisor"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: marina-sandbox prepare | supervise --dir DIR --marina BIN [--repo DIR] (run by marina sandbox up)")
		return 2
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch args[0] {
	case "prepare":
		env, err := supervisor.Prepare(ctx, wd, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, kv := range env {
			fmt.Println(kv)
		}
		return 0
	case "supervise":
		fs := flag.NewFlagSet("supervise", flag.ContinueOnError)
		o := sandbox.Options{Source: wd}
		fs.StringVar(&o.Dir, "dir", "", "state directory")
		fs.StringVar(&o.Marina, "marina", "", "the marina binary the sandbox runs")
		fs.StringVar(&o.Repo, "repo", "", "model repository to serve (default: the source tree's examples/ml-platform)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if o.Dir == "" || o.Marina == "" {
			fmt.Fprintln(os.Stderr, "supervise: --dir and --marina are required")
			return 2
		}
		if err := supervisor.Supervise(ctx, o, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "marina-sandbox: unknown command %q (prepare, supervise)\n", args[0])
	return 2
}
