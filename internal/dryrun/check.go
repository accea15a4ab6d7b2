package dryrun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the server-side apply field manager of marina's dry runs.
const FieldManager = "marina"

// Options tune Check.
type Options struct {
	// Namespace is given to namespaced objects that name none, as kubectl's -n; "default" when empty.
	Namespace string
	// Concurrency is the number of requests in flight; 8 when 0.
	Concurrency int
}

// Check server-side applies every object in dry-run mode (nothing is persisted) and returns the server's
// rejections and the objects it could not check. Namespaces and CustomResourceDefinitions go first. An object
// whose namespace does not exist yet but is created by a Namespace among objs is checked in opts.Namespace
// instead, since the engine will create it first; one whose namespace nothing creates is reported. The error is
// for an unreachable or unusable API server.
func Check(ctx context.Context, cfg *rest.Config, objs []Object, opts Options) ([]Problem, error) {
	if opts.Namespace == "" {
		opts.Namespace = metav1.NamespaceDefault
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, fmt.Errorf("API server %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &checker{
		dyn:      dyn,
		mapper:   restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		opts:     opts,
		creates:  map[string]bool{},
		existing: map[string]bool{},
	}
	for _, o := range objs {
		if o.Object.GroupVersionKind().GroupKind().String() == "Namespace" {
			c.creates[o.Object.GetName()] = true
		}
	}
	first, rest := ordered(objs)
	var problems []Problem
	for _, batch := range [][]Object{first, rest} {
		p, err := c.run(ctx, batch)
		if err != nil {
			return nil, err
		}
		problems = append(problems, p...)
	}
	slices.SortStableFunc(problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Object, b.Object))
	})
	return problems, nil
}

// ordered splits objs into Namespaces and CRDs, which others depend on, and everything else.
func ordered(objs []Object) (first, rest []Object) {
	for _, o := range objs {
		switch o.Object.GroupVersionKind().GroupKind().String() {
		case "Namespace", "CustomResourceDefinition.apiextensions.k8s.io":
			first = append(first, o)
		default:
			rest = append(rest, o)
		}
	}
	return first, rest
}

type checker struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	opts   Options

	creates map[string]bool // namespaces a Namespace object among the objects creates

	mu       sync.Mutex
	existing map[string]bool // namespaces known to exist on the server
}

// run checks a batch on opts.Concurrency workers.
func (c *checker) run(ctx context.Context, objs []Object) ([]Problem, error) {
	found := make([][]Problem, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for i, o := range objs {
		if gctx.Err() != nil {
			break // a server error or the caller ended the run: send no more objects
		}
		g.Go(func() error {
			var err error
			found[i], err = c.check(gctx, o)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.Concat(found...), ctx.Err()
}

// check dry-runs one object. The error is for a failure of the server or the connection, not of the object.
func (c *checker) check(ctx context.Context, o Object) ([]Problem, error) {
	u := o.Object.DeepCopy()
	key := Key(u)
	problem := func(msg, hint string, skipped bool) []Problem {
		return []Problem{{File: o.File, Object: key, Message: msg, Hint: hint, Skipped: skipped}}
	}
	gvk := u.GroupVersionKind()
	if u.GetName() == "" {
		return problem("no metadata.name", "server-side apply needs a name; GitOps engines do not support generateName either", false), nil
	}
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		return problem(fmt.Sprintf("the server does not serve %s", gvk),
			"install its CustomResourceDefinition (or the component that provides it) before this is applied, or fix the apiVersion", false), nil
	}
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = c.dyn.Resource(mapping.Resource)
	note := ""
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := u.GetNamespace()
		if ns == "" {
			ns = c.opts.Namespace
		}
		exists, err := c.namespaceExists(ctx, ns)
		if err != nil {
			return nil, err
		}
		if !exists {
			if !c.creates[ns] {
				return problem(fmt.Sprintf("namespace %q does not exist and nothing in the repository creates it", ns),
					"install the component that owns the namespace (e.g. argocd or flux-system), or add a Namespace object to the repository", false), nil
			}
			note = fmt.Sprintf(" (checked in namespace %q: %q does not exist yet)", c.opts.Namespace, ns)
			ns = c.opts.Namespace
		}
		u.SetNamespace(ns)
		ri = c.dyn.Resource(mapping.Resource).Namespace(ns)
	} else {
		u.SetNamespace("")
	}
	_, err = ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
	if err == nil {
		return nil, nil
	}
	var status apierrors.APIStatus
	switch {
	case !errors.As(err, &status) || isServerFailure(err):
		return nil, fmt.Errorf("%s (%s): %w", key, o.File, err)
	case apierrors.IsForbidden(err):
		return problem("not checked: "+status.Status().Message,
			"check with a user allowed to patch this resource; dry runs persist nothing", true), nil
	}
	return rejection(o.File, key, status.Status(), note), nil
}

// isServerFailure reports errors about the server or the connection rather than the object. An internal error
// stays the object's problem: it is usually a webhook the object goes through.
func isServerFailure(err error) bool {
	return apierrors.IsUnauthorized(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err)
}

// rejection turns the server's Status into one problem per field it names.
func rejection(file, key string, st metav1.Status, note string) []Problem {
	var out []Problem
	if st.Details != nil {
		for _, cause := range st.Details.Causes {
			out = append(out, Problem{File: file, Object: key, Field: cause.Field, Message: strings.TrimSpace(cause.Message) + note})
		}
	}
	if len(out) == 0 {
		out = append(out, Problem{File: file, Object: key, Message: st.Message + note})
	}
	return out
}

func (c *checker) namespaceExists(ctx context.Context, ns string) (bool, error) {
	c.mu.Lock()
	known := c.existing[ns]
	c.mu.Unlock()
	if known {
		return true, nil
	}
	nsRes := c.dyn.Resource(schemaNamespaces)
	_, err := nsRes.Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	c.mu.Lock()
	c.existing[ns] = true
	c.mu.Unlock()
	return true, nil
}

var schemaNamespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
