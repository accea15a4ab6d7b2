package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/serve"
	"github.com/marina-dev/marina/internal/signing"
)

type serveOptions struct {
	*globalOptions
	registryFlags
	pprof          pprofOptions
	model, addr    string
	modelDir       string
	name, digest   string
	maxBody        string
	maxConcurrency int
	verifyKeys     []string
	signature      string
	terminationLog string

	maxBodyBytes int64               // parsed from maxBody by Validate
	keys         []signing.PublicKey // loaded from verifyKeys by Run
}

// verifyKeyEnv names the public keys serve verifies with when --verify-key is not given (comma-separated files):
// a Deployment sets it once for every container.
const verifyKeyEnv = "MARINA_VERIFY_KEY"

func (o *serveOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.model, "model", "", "the model: an ONNX file, NAME@VERSION registered in the repository, oci://HOST/REPO@sha256:… or https://… with --digest (required)")
	fs.StringVar(&o.modelDir, "model-dir", "", "where a model from a registry or https:// is fetched to (default /models when writable, else ~/.cache/marina/artifacts)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (:8080 for every interface)")
	fs.StringVar(&o.name, "name", "", "model name in URLs (default: the registered name, else the file name without extension)")
	fs.StringVar(&o.digest, "digest", "", "refuse to serve unless the file's digest is this sha256:… (default: the registered digest)")
	fs.StringVar(&o.maxBody, "max-body", "8MiB", "largest request body (bytes, or with KiB/MiB/GiB, KB/MB/GB)")
	fs.IntVar(&o.maxConcurrency, "max-concurrency", 0, "inferences in progress at once; more get 503 (default 2×GOMAXPROCS)")
	o.registryFlags.AddFlags(fs)
	o.pprof.AddFlags(fs)
	fs.StringSliceVar(&o.verifyKeys, "verify-key", nil, "PEM public key: refuse to serve unless the model's signature verifies with it (repeatable; default $"+verifyKeyEnv+", comma-separated)")
	fs.StringVar(&o.signature, "signature", "", "the model's signature, a Sigstore bundle (default: the registered version's signing.bundle)")
	fs.StringVar(&o.terminationLog, "termination-log", terminationLog, "a fatal error is also written to this file when it exists (the kubelet creates the container's terminationMessagePath), for kubectl describe and marina doctor")
}

// terminationLog is the file the kubelet reads a container's last words from (terminationMessagePath's default).
const terminationLog = "/dev/termination-log"

// maxTerminationMessage is what the kubelet keeps of a termination message (4096 bytes).
const maxTerminationMessage = 4096

// writeTerminationLog writes err's message, credentials taken out, to path if that file exists: in a container it
// becomes the termination message that kubectl describe and marina doctor show. Anywhere else there is no such file
// and nothing is written.
func writeTerminationLog(path string, err error) {
	if path == "" {
		return
	}
	f, openErr := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if openErr != nil {
		return
	}
	msg := repo.Redact(err.Error())
	if len(msg) > maxTerminationMessage {
		msg = msg[:maxTerminationMessage]
	}
	_, _ = f.WriteString(msg)
	_ = f.Close()
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func (o *serveOptions) Validate() error {
	if o.model == "" {
		return usagef("--model is required: an ONNX file or NAME@VERSION")
	}
	if o.addr == "" {
		return usagef("--addr must not be empty (for example 127.0.0.1:8080 or :8080)")
	}
	if o.digest != "" && !digestRE.MatchString(o.digest) {
		return usagef("--digest %q: want sha256: and 64 lowercase hex digits", o.digest)
	}
	if strings.HasPrefix(o.model, "https://") && o.digest == "" {
		return usagef("--model %s: pass --digest sha256:… with an https:// model: serve runs only a download it can check", o.model)
	}
	if strings.HasPrefix(o.model, oci.Scheme) {
		if _, err := oci.ParseURI(o.model); err != nil {
			return usagef("--model %v", err)
		}
	}
	if o.modelDir == "" {
		o.modelDir = defaultModelDir()
	}
	n, err := parseSize(o.maxBody)
	if err != nil || n < 1 {
		return usagef("--max-body %q: want a positive size such as 8MiB or 1048576", o.maxBody)
	}
	o.maxBodyBytes = n
	if o.maxConcurrency < 0 {
		return usagef("--max-concurrency must be 0 (the default) or more, not %d", o.maxConcurrency)
	}
	if len(o.verifyKeys) == 0 {
		if env := os.Getenv(verifyKeyEnv); env != "" {
			o.verifyKeys = strings.Split(env, ",")
		}
	}
	if o.signature != "" && len(o.verifyKeys) == 0 {
		return usagef("--signature needs --verify-key (or $%s): the public key to check it with", verifyKeyEnv)
	}
	return nil
}

// served is what serve runs: a model file and what is known about it.
type served struct {
	file, name, version string
	blocked             *model.Version    // the registered version, when it is blocked
	digests             map[string]string // expected digest → where it comes from
	bundle              []byte            // the signature, when verifying
	bundleFrom          string            // where the signature was read from
}

func (o *serveOptions) Run(ctx context.Context) error {
	var err error
	if o.keys, err = loadPublicKeys("--verify-key", o.verifyKeys); err != nil {
		return err
	}
	m, err := o.resolve(ctx)
	if err != nil {
		return err
	}
	// The file is read once: its digest and signature are checked on these bytes, and ONNX Runtime loads these
	// bytes, so a file replaced after the check is never what runs.
	data, err := readModel(m.file)
	if err != nil {
		return usagef("%v", err)
	}
	got := digest.FromBytes(data).String()
	for want, from := range m.digests {
		if got != want {
			return failedf("%s has digest %s, but %s says %s: refusing to serve a different artifact", m.file, got, from, want)
		}
	}
	if err := o.verify(m, got); err != nil {
		return err
	}
	if checked != nil {
		checked(m.file)
	}
	if err := inference.Init(); err != nil {
		return usagef("%v", err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return usagef("--addr: %v", err)
	}
	srv := serve.New(serve.Options{Name: m.name, Version: m.version, ServerVersion: currentVersion().Version, MaxBody: o.maxBodyBytes, MaxConcurrency: o.maxConcurrency, Log: o.log})
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := o.pprof.start(sctx, o.out, o.log); err != nil {
		ln.Close()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln, serve.DefaultShutdownTimeout) }()

	// Live while loading (big models take a while), ready once loaded.
	start := time.Now()
	sess, err := inference.LoadBytes(m.file, data)
	data = nil // the session holds the model now; let the collector have the copy
	if err != nil {
		stop()
		<-done
		if errors.Is(err, inference.ErrNoRuntime) {
			return usagef("%v", err)
		}
		return failed(err)
	}
	defer sess.Close()
	srv.SetModel(sess, time.Since(start))
	version := m.version
	if version == "" {
		version = "unversioned"
	}
	if b := m.blocked; b != nil {
		o.log.Warn("serving a blocked version", "model", b.Name, "version", b.Version, "reason", b.StateReason,
			"file", model.File(b.Name, b.Version))
	}
	fmt.Fprintf(o.out, "serving %s (%s) from %s on http://%s (ONNX Runtime %s)\n", m.name, version, m.file, ln.Addr(), inference.Version())
	if err := <-done; err != nil {
		return usagef("serving on %s: %v", ln.Addr(), err)
	}
	fmt.Fprintf(o.out, "stopped serving %s\n", m.name)
	return nil
}

// checked, when set (by tests only), is called with the model file once its digest and signature are checked and
// before ONNX Runtime loads it: the moment a file swapped on disk would be loaded if serve read it again.
var checked func(file string)

// readModel reads the model file whole, refusing what is not a regular file (a FIFO would block, a device never
// end); ONNX Runtime needs the whole model in memory anyway.
func readModel(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", file)
	}
	return io.ReadAll(f)
}

// verify checks the model's signature with the --verify-key keys, the file's digest being digest; without keys it
// does nothing. Unsigned, not signed by a key given, or signed over other bytes: exit 1 with the reason.
func (o *serveOptions) verify(m served, digest string) error {
	if len(o.keys) == 0 {
		return nil
	}
	if m.bundle == nil {
		return failedf("%s is not signed: refusing to serve an unsigned model with --verify-key (sign it with marina model sign, or pass its bundle with --signature)", m.file)
	}
	signed, err := signing.VerifyModel(m.bundle, o.keys)
	if err == nil {
		err = signed.Check(signing.DigestResource(filepath.Base(m.file), digest))
	}
	if err != nil {
		return failedf("%s: %v: refusing to serve %s", m.bundleFrom, err, m.file)
	}
	o.log.Info("signature verified", "file", m.file, "signature", m.bundleFrom)
	return nil
}

// resolve finds the model file: --model as a file, an oci:// or https:// model fetched into --model-dir, else
// NAME@VERSION (or models/NAME@VERSION) in the registry, whose artifact uri must be a path in the repository or
// an OCI artifact.
func (o *serveOptions) resolve(ctx context.Context) (served, error) {
	m := served{file: o.model, name: o.name, digests: map[string]string{}}
	if o.digest != "" {
		m.digests[o.digest] = "--digest"
	}
	if o.signature != "" {
		b, err := signing.ReadBundle(o.signature)
		if err != nil {
			return m, usagef("--signature: %v", err)
		}
		m.bundle, m.bundleFrom = b, o.signature
	}
	file := strings.TrimPrefix(o.model, "file://")
	if fi, err := os.Stat(file); err == nil && fi.Mode().IsRegular() {
		m.file = file
		if m.name == "" {
			m.name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		}
		return m, nil
	}
	if strings.HasPrefix(o.model, oci.Scheme) {
		ref, err := oci.ParseURI(o.model)
		if err != nil {
			return m, usagef("--model %v", err)
		}
		return o.fetch(ctx, m, ref, o.digest)
	}
	if strings.HasPrefix(o.model, "https://") {
		file, err := o.download(ctx, o.model, o.modelDir, o.digest)
		if err != nil {
			return m, err
		}
		m.file = file
		if m.name == "" {
			m.name = strings.TrimSuffix(filepath.Base(m.file), filepath.Ext(m.file))
		}
		return m, nil
	}
	if scheme, _, ok := strings.Cut(o.model, "://"); ok {
		return m, usagef("--model %s: cannot fetch %s:// artifacts; download it and pass --model FILE --digest DIGEST (serve fetches oci:// and https://)", o.model, scheme)
	}
	name, version, ok := strings.Cut(strings.TrimPrefix(o.model, model.Dir+"/"), "@")
	if !ok {
		return m, usagef("--model %s: no such file (pass an ONNX file or NAME@VERSION)", o.model)
	}
	if version == "" {
		return m, usagef("--model %s: name the version, NAME@VERSION", o.model)
	}
	r, err := o.openRepo()
	if err != nil {
		return m, err
	}
	defer r.Close()
	v, err := (&registry.Registry{Repo: r}).Get(name, version)
	if err != nil {
		return m, err
	}
	meta := model.File(v.Name, v.Version)
	loc, err := v.Artifact.Locate()
	if err != nil {
		return m, failedf("%s: %v", meta, err)
	}
	if m.name == "" {
		m.name = v.Name
	}
	if v.State == model.StateBlocked {
		m.blocked = v
	}
	if v.Artifact.Digest != "" {
		m.digests[v.Artifact.Digest] = meta
	}
	if len(o.keys) > 0 && m.bundle == nil && v.Signing != nil && v.Signing.Bundle != "" {
		if m.bundle, err = r.ReadFile(v.Signing.Bundle, signing.MaxBundleSize); err != nil {
			return m, failedf("%s: signing.bundle: %v (sign the version again with marina model sign)", meta, err)
		}
		m.bundleFrom = v.Signing.Bundle
	}
	if ref, err := oci.ParseURI(loc.Remote); err == nil {
		m, err = o.fetch(ctx, m, ref, v.Artifact.Digest)
		m.version = v.Version
		return m, err
	}
	if loc.Remote != "" {
		return m, usagef("%s: artifact.uri %s: cannot fetch remote artifacts; download it and pass --model FILE --digest %s", meta, loc.Remote, v.Artifact.Digest)
	}
	if !r.Exists(loc.Path) {
		return m, failedf("%s: artifact.uri %s does not exist in the repository; restore it or pass --model FILE", meta, loc.Path)
	}
	if m.file, err = r.CheckRegularFile(loc.Path); err != nil {
		return m, failedf("%s: artifact.uri: %w", meta, err)
	}
	m.version = v.Version
	return m, nil
}

// fetch pulls the model file of the artifact ref into --model-dir (want, when set, is the digest it must have) and
// records the artifact's digest for the check before loading.
func (o *serveOptions) fetch(ctx context.Context, m served, ref oci.Reference, want string) (served, error) {
	if len(o.keys) > 0 && m.bundle == nil {
		// No signature given or registered: the one attached to the artifact, checked before the download, names
		// the digest the pulled file must have; verify checks the file's bytes against it again before loading.
		sig, signed, err := o.signedModel(ctx, ref, o.keys, want)
		if err != nil {
			return m, err
		}
		want, m.bundle, m.bundleFrom = signed, sig.Bundle, "the signature "+sig.Referrer.String()
	}
	p, err := o.pull(ctx, ref, o.modelDir, want)
	if err != nil {
		return m, err
	}
	m.file = p.File
	m.digests[p.Digest] = "the artifact " + ref.URI()
	if m.name == "" {
		m.name = p.Model
	}
	m.version = p.Version
	return m, nil
}

// parseSize reads a byte count with an optional unit: B, KiB/MiB/GiB (also Ki/Mi/Gi) or KB/MB/GB.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	factor := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, factor = n, u.factor
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, err
	}
	if n > (1<<62)/factor {
		return 0, fmt.Errorf("too large")
	}
	return n * factor, nil
}

func newServeCommand(g *globalOptions) *cobra.Command {
	o := &serveOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "serve --model FILE|NAME@VERSION|oci://…@sha256:…|https://… [--addr 127.0.0.1:8080] [--name NAME] [--digest sha256:…] [--verify-key PUB [--signature BUNDLE]]",
		Short: "Serve an ONNX model over the Open Inference Protocol (v2) and KServe v1, with Prometheus metrics",
		Long: `serve loads an ONNX model in ONNX Runtime and serves it over HTTP:

  GET  /v2/health/live, /v2/health/ready     liveness; readiness once the model is loaded
  GET  /v2/models/NAME                       metadata: inputs and outputs (datatype, shape)
  POST /v2/models/NAME/infer                 Open Inference Protocol v2 inference (JSON, or with
                                             binary tensor data: Triton's extension)
  POST /v1/models/NAME:predict               KServe v1 {"instances": [...]}, one-input models
  GET  /metrics                              Prometheus: requests, latency, in flight, load time

--model is an ONNX file; NAME@VERSION registered in the repository, whose
artifact.uri is then a file in the repository or an OCI artifact; an OCI
artifact oci://HOST/REPO@sha256:… (marina model push); or https://… with
--digest. Remote models are fetched into --model-dir (default /models when
writable, else ~/.cache/marina/artifacts; a file already there with the right
digest is reused), through a temporary file renamed only once its digest checks
out. When a digest is known (the registered one, the artifact's, or --digest)
the file must match it, or serve exits 1 naming both digests. Registry
credentials come from the Docker configuration; --plain-http and --ca-file as for
marina model pull.
With --verify-key (or $MARINA_VERIFY_KEY) the model must also carry a
signature that verifies with one of the keys over the exact file, checked before
loading: the registered version's signing.bundle (marina model sign),
--signature BUNDLE, or for an oci:// model the signature attached to the
artifact in the registry (found as an OCI referrer and checked before the
download). Unsigned, signed by another key, or signed over other bytes:
serve exits 1 with the reason.
Inference takes the binary tensor data extension as Triton documents it (what
tritonclient.http sends by default): with an Inference-Header-Content-Length
header, the body is the JSON request then the raw bytes of the inputs with a
parameters.binary_data_size; outputs asked for with parameters.binary_data
(or the request's binary_data_output) come back the same way.
Requests are checked against the model's inputs (names, datatypes, shapes) and
rejected with 400 and a JSON {"error": ...}; bodies over --max-body get 413,
requests over --max-concurrency get 503, a method an endpoint does not take gets
405 with an Allow header. GET /v2 reports marina's version and, as its own field
"onnxruntime", ONNX Runtime's. -v logs one line per request (method, path,
status, duration; never a body). Serving a version the registry marks blocked
logs a warning. SIGTERM or Ctrl-C stops accepting
connections and lets requests in flight finish (up to 10s).

ONNX Runtime is loaded from $ONNXRUNTIME_LIB or the cache marina runtime install
(or hack/onnxruntime.sh) fills; without it serve exits 2. This is the command rendered Deployments run.`,
		Example: `  marina serve --model iris-classifier@1.0.0
  marina serve --model iris-classifier@1.0.0 --verify-key marina.pub
  marina serve --model ./model.onnx --name iris --addr :8080
  # DIGEST: the artifact's digest, sha256:… (what marina model push recorded; for https://, the file's)
  marina serve --model "oci://registry.example.com/models/iris@$DIGEST"
  marina serve --model https://models.example.com/iris/v1.0.0.onnx --digest "$DIGEST"
  curl -s localhost:8080/v2/models/iris/infer -d '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			err := runE(o, func([]string) {})(c, args)
			if err != nil {
				writeTerminationLog(o.terminationLog, err)
			}
			return err
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
