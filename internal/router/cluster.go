package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// ErrNoRouting is wrapped by the errors of a ModelDeployment that says nothing the router can route by (yet): no
// status.weights or no stable version, as before marina controller first reconciled it.
var ErrNoRouting = errors.New("no routing in the ModelDeployment's status")

// ModelDeploymentSource derives router configurations from the status of one ModelDeployment, which marina
// controller writes: status.stableVersion and status.canaryVersion are the versions, status.weights their split and
// the share mirrored to the canary when the rollout is a shadow.
type ModelDeploymentSource struct {
	// Namespace and Name locate the ModelDeployment.
	Namespace, Name string
	// Base holds everything but the upstreams and the shadow: listen, metrics, model, protocol, sticky, limits.
	Base Config
	// URLs are the addresses of versions, by version, where they are not behind the controller's Services (local runs
	// with one marina serve per version). Other versions are reached through Service NAME-stable or NAME-canary.
	URLs map[string]string
}

// Validate checks the base configuration and the URLs before anything is watched; errors name the field.
func (s *ModelDeploymentSource) Validate() error {
	if s.Namespace == "" || s.Name == "" {
		return fieldError("modelDeployment", "name and namespace are required")
	}
	cfg := s.Base
	cfg.Model = "check"
	cfg.Upstreams = []Upstream{{Version: "check", URL: "http://127.0.0.1:80", Weight: 1}}
	if err := cfg.validate(); err != nil {
		return err
	}
	for _, v := range slices.Sorted(maps.Keys(s.URLs)) {
		if err := checkVersion("upstream "+v, v, s.URLs[v], map[string]string{}); err != nil {
			return err
		}
	}
	return nil
}

// Config derives the router's configuration from md's status.
func (s *ModelDeploymentSource) Config(md *v1alpha1.ModelDeployment) (*Config, error) {
	where := fmt.Sprintf("ModelDeployment %s/%s", md.Namespace, md.Name)
	st := md.Status
	w := st.Weights
	switch {
	case w == nil:
		return nil, fmt.Errorf("%s: no status.weights (has marina controller reconciled it?): %w", where, ErrNoRouting)
	case st.StableVersion == "":
		return nil, fmt.Errorf("%s: no status.stableVersion (has marina controller reconciled it?): %w", where, ErrNoRouting)
	}
	cfg := s.Base
	if cfg.Model == "" {
		cfg.Model = md.Spec.Model
	}
	cfg.Upstreams = []Upstream{{Version: st.StableVersion, URL: s.url(st.StableVersion, "-stable"), Weight: int(w.Stable)}}
	cfg.Shadow = nil
	canary := st.CanaryVersion
	switch {
	case canary == "" || canary == st.StableVersion:
		if w.Canary > 0 || w.Shadow > 0 {
			return nil, fmt.Errorf("%s: status.weights sends %d%% (mirrors %d%%) to the canary, but status.canaryVersion is empty or the stable version: %w",
				where, w.Canary, w.Shadow, ErrInvalidConfig)
		}
	case w.Shadow > 0 && w.Canary > 0:
		return nil, fmt.Errorf("%s: status.weights both serves (%d%%) and mirrors (%d%%) to canary %s; the router does one or the other: %w",
			where, w.Canary, w.Shadow, canary, ErrInvalidConfig)
	case w.Shadow > 0:
		cfg.Shadow = &Shadow{Version: canary, URL: s.url(canary, "-canary"), Percent: float64(w.Shadow)}
	default:
		cfg.Upstreams = append(cfg.Upstreams, Upstream{Version: canary, URL: s.url(canary, "-canary"), Weight: int(w.Canary)})
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &cfg, nil
}

// url is where version answers: its URLs entry, else the controller's Service NAME<suffix> on port 80.
func (s *ModelDeploymentSource) url(version, suffix string) string {
	if u, ok := s.URLs[version]; ok {
		return u
	}
	return fmt.Sprintf("http://%s%s.%s.svc:80", s.Name, suffix, s.Namespace)
}

// ModelDeploymentWatch follows one ModelDeployment through an informer on the API server.
type ModelDeploymentWatch struct {
	src     *ModelDeploymentSource
	log     *slog.Logger
	changed chan struct{} // poked, without blocking, on every event

	mu     sync.Mutex
	latest *v1alpha1.ModelDeployment // nil while there is none
}

// WatchModelDeployment starts an informer on the source's ModelDeployment (and nothing else: it lists and watches
// that one name in that one namespace) that runs until ctx ends. It returns once the informer has synced.
func WatchModelDeployment(ctx context.Context, restCfg *rest.Config, src *ModelDeploymentSource, log *slog.Logger) (*ModelDeploymentWatch, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	// One read first: a missing CRD or a forbidden list fails here, clearly, instead of an informer retrying forever.
	direct, err := ctrlclient.New(restCfg, ctrlclient.Options{Scheme: scheme})
	if err == nil {
		err = ctrlclient.IgnoreNotFound(direct.Get(ctx, ctrlclient.ObjectKey{Namespace: src.Namespace, Name: src.Name}, &v1alpha1.ModelDeployment{}))
	}
	if err != nil {
		return nil, fmt.Errorf("reading ModelDeployment %s/%s (is marina's CRD installed, and may the router's service account get, list and watch modeldeployments.marina.dev there?): %w",
			src.Namespace, src.Name, err)
	}
	c, err := cache.New(restCfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{
		src.Namespace: {FieldSelector: fields.OneTermEqualSelector("metadata.name", src.Name)},
	}})
	if err != nil {
		return nil, fmt.Errorf("watching ModelDeployment %s/%s: %w", src.Namespace, src.Name, err)
	}
	w := &ModelDeploymentWatch{src: src, log: log, changed: make(chan struct{}, 1)}
	go func() {
		if err := c.Start(ctx); err != nil {
			log.Error("the ModelDeployment watch stopped", "namespace", src.Namespace, "name", src.Name, "error", err)
		}
	}()
	inf, err := c.GetInformer(ctx, &v1alpha1.ModelDeployment{}) // blocks until synced
	if err != nil {
		return nil, fmt.Errorf("watching ModelDeployment %s/%s: %w", src.Namespace, src.Name, err)
	}
	set := func(obj any) {
		md, _ := obj.(*v1alpha1.ModelDeployment)
		w.mu.Lock()
		w.latest = md
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(any) { set(nil) },
	}); err != nil {
		return nil, err
	}
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("watching ModelDeployment %s/%s: %w", src.Namespace, src.Name, ctx.Err())
	}
	select { // an absent ModelDeployment sends no event; look once anyway, to say so
	case w.changed <- struct{}{}:
	default:
	}
	return w, nil
}

// current derives the configuration from the latest ModelDeployment seen.
func (w *ModelDeploymentWatch) current() (*Config, error) {
	w.mu.Lock()
	md := w.latest
	w.mu.Unlock()
	if md == nil {
		return nil, fmt.Errorf("ModelDeployment %s/%s not found: %w", w.src.Namespace, w.src.Name, ErrNoRouting)
	}
	return w.src.Config(md)
}

// First waits until the ModelDeployment's status can be routed by and returns that configuration, logging why not
// while it cannot.
func (w *ModelDeploymentWatch) First(ctx context.Context) (*Config, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.changed:
		}
		cfg, err := w.current()
		if err == nil {
			return cfg, nil
		}
		w.log.Warn("waiting for a ModelDeployment to route by", "error", err)
	}
}

// Follow reloads rt whenever the ModelDeployment's routing changes, until ctx ends. When the ModelDeployment is
// deleted or its status loses the routing, the last good configuration stays: that is logged and counted as a failed
// reload.
func (w *ModelDeploymentWatch) Follow(ctx context.Context, rt *Router) {
	last := rt.Config()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.changed:
		}
		cfg, err := w.current()
		if err != nil {
			rt.ReloadFailed(err)
			continue
		}
		if reflect.DeepEqual(cfg, last) {
			continue // a status change that moves no traffic
		}
		if rt.Reload(cfg) != nil {
			continue // logged and counted by Reload
		}
		last = cfg
	}
}
