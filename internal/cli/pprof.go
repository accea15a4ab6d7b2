package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/spf13/pflag"
)

// pprofOptions is the --pprof-addr flag of the long-running commands: serve and router serve Go's runtime
// profiles with profileServer, the controller through controller-runtime's manager.
type pprofOptions struct {
	addr string
}

func (o *pprofOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.addr, "pprof-addr", "", "serve Go's runtime profiles (net/http/pprof, /debug/pprof/) on this address, e.g. 127.0.0.1:6060 (default: off; they reveal what the process is doing: keep them off public interfaces)")
}

// start serves the runtime profiles until ctx is done, and says where on out; nothing when the flag is unset.
func (o *pprofOptions) start(ctx context.Context, out io.Writer, log *slog.Logger) error {
	if o.addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return usagef("--pprof-addr: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No /debug/pprof/cmdline: a command line is not a profile, and it may name files a reader should not learn.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "profiles on http://%s/debug/pprof/\n", ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Warn("the profiles' server stopped", "error", err)
		}
	}()
	return nil
}
