// Command marina is GitOps for AI models on Kubernetes.
package main

import (
	"os"

	"github.com/marina-dev/marina/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
