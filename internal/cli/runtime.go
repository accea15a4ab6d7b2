package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/inference"
)

type runtimeInstallOptions struct {
	*globalOptions
	registry string
	tarball  string
}

func (o *runtimeInstallOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.registry, "registry", "", "npm registry to download from (default: $npm_config_registry, then "+inference.DefaultRegistry+")")
	fs.StringVar(&o.tarball, "tarball", "", "install from this copy of onnxruntime-node-"+inference.RuntimeVersion+".tgz instead of downloading it")
}

func (o *runtimeInstallOptions) Validate() error {
	if o.registry != "" && o.tarball != "" {
		return usagef("--registry and --tarball exclude each other: download from a registry, or install from a file")
	}
	if o.registry == "" {
		o.registry = os.Getenv("npm_config_registry")
	}
	return nil
}

func (o *runtimeInstallOptions) Run(ctx context.Context) error {
	in := &inference.Installer{Registry: o.registry, Tarball: o.tarball, Progress: o.errOut}
	lib, err := in.Install(ctx)
	switch {
	case errors.Is(err, inference.ErrChecksum):
		return failed(err)
	case err != nil:
		return usagef("%v", err)
	}
	if env := os.Getenv("ONNXRUNTIME_LIB"); env != "" && env != lib {
		fmt.Fprintf(o.errOut, "warning: ONNXRUNTIME_LIB=%s is set: marina loads that file, not %s (unset it to use this one)\n", env, lib)
	}
	fmt.Fprintln(o.out, lib)
	return nil
}

func newRuntimeCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "Manage the ONNX Runtime library that serve, model check and ci load",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	o := &runtimeInstallOptions{globalOptions: g}
	install := &cobra.Command{
		Use:   "install [--registry URL | --tarball FILE]",
		Short: "Download ONNX Runtime " + inference.RuntimeVersion + " into the user cache, where marina finds it",
		Long: `install downloads the npm package onnxruntime-node@` + inference.RuntimeVersion + ` (a ~113 MB tarball
that ships libonnxruntime.so.1 for linux/x64), checks it against its pinned sha256
(` + inference.TarballSHA256 + `),
takes that one file out of it (no npm, no install script) into
${MARINA_CACHE:-$HOME/.cache/marina}/onnxruntime/` + inference.RuntimeVersion + `/ and prints its path.
marina serve, model check, register --evaluate and ci load it from there (or from
$ONNXRUNTIME_LIB). Nothing is downloaded when it is already installed.

This is what hack/onnxruntime.sh does in marina's source tree. ONNX Runtime is
loaded through cgo: a marina built with CGO_ENABLED=0 (the static release binary)
can install it, and marina-serve, or a marina built with cgo, uses it.

Exit 0 with the library's path on stdout; 1 when the tarball is not the pinned
one (nothing is installed); 2 when it cannot be downloaded or written.`,
		Example: `  marina runtime install
  export ONNXRUNTIME_LIB=$(marina runtime install)

  # Through a registry mirror, or from a copy of the tarball (npm pack onnxruntime-node@` + inference.RuntimeVersion + `)
  marina runtime install --registry https://npm.example.com
  marina runtime install --tarball onnxruntime-node-` + inference.RuntimeVersion + `.tgz`,
		Args: cobra.NoArgs,
	}
	install.RunE = runE(o, func([]string) {})
	o.AddFlags(install.Flags())
	cmd.AddCommand(install)
	return cmd
}
