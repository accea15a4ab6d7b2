//go:build cgo

// Command marina-serve is marina's model server (marina serve) with ONNX Runtime, which needs cgo: the binary of
// the serve image. marina itself builds without cgo.
package main

import (
	"os"

	"github.com/marina-dev/marina/internal/cli"
)

func main() {
	os.Exit(cli.ExecuteServe(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
