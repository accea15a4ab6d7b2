package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/project"
)

// Status is the outcome of one check.
type Status string

// Check outcomes, from best to worst; Skip means the check did not apply or could not run.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Check names, one per area the doctor looks at.
const (
	CheckAPI          = "api"
	CheckCRD          = "crd"
	CheckController   = "controller"
	CheckArgoCD       = "argocd"
	CheckFlux         = "flux"
	CheckGPU          = "gpu"
	CheckDevicePlugin = "device-plugin"
	CheckHPA          = "hpa"
	CheckQuota        = "quota"
	CheckPods         = "pods"
	CheckRoutes       = "routes"
)

// Check is one observation about the cluster.
type Check struct {
	// Name is the area checked (CheckAPI, CheckGPU, …).
	Name string `json:"name"`
	// Target is what the check looked at: an object, a model/env pair or a namespace; empty for cluster-wide checks.
	Target string `json:"target,omitempty"`
	Status Status `json:"status"`
	// Evidence is what was observed, with object names and numbers.
	Evidence string `json:"evidence"`
	// Fix says what to do when the status is fail or warn.
	Fix string `json:"fix,omitempty"`
}

// ServerVersioner is the part of a discovery client the API check needs.
type ServerVersioner interface {
	ServerVersion() (*version.Info, error)
}

var _ ServerVersioner = (*discovery.DiscoveryClient)(nil)

// Input is the cluster and the repository to check it against.
type Input struct {
	// Client reads the cluster; its scheme must know the client-go types.
	Client client.Client
	// Discovery reports the server version.
	Discovery ServerVersioner
	// Server is the API server address, for evidence.
	Server  string
	Project *project.Project
	// Apps are the repository's applications.
	Apps []*project.ModelApplication
	// Env limits the checks to one environment; empty checks all of them.
	Env string
	// Logs reads the end of a crashed container's log when its exit left no termination message; nil reads none.
	Logs PodLogger
	// Now is the clock the pods check measures how long a pod has not been Ready with; nil is time.Now.
	Now func() time.Time
	// Sources maps the objects the repository deploys, as Kind/namespace/name (Kind/name when cluster-scoped), to
	// the file each comes from: when an engine fails on an object, its check names the file to fix.
	Sources map[string]string
}

// Run runs every check in order and returns their results. When the API server cannot be reached, the other checks
// are reported as skipped.
func Run(ctx context.Context, in Input) []Check {
	api := checkAPI(in)
	if api.Status == Fail {
		checks := []Check{api}
		for _, name := range []string{CheckCRD, CheckController, CheckArgoCD, CheckFlux, CheckGPU, CheckDevicePlugin, CheckHPA, CheckQuota, CheckPods, CheckRoutes} {
			checks = append(checks, Check{Name: name, Status: Skip, Evidence: "not checked: the API server is unreachable"})
		}
		return checks
	}
	d := &doctor{Input: in, envs: in.environments()}
	checks := []Check{api}
	for _, step := range []func(context.Context) []Check{
		d.checkCRD, d.checkController, d.checkEngines, d.checkGPU, d.checkDevicePlugin, d.checkHPA, d.checkQuota, d.checkPods, d.checkRoutes,
	} {
		checks = append(checks, step(ctx)...)
	}
	return checks
}

// Failed returns the checks that failed.
func Failed(checks []Check) []Check {
	var out []Check
	for _, c := range checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

// doctor carries the input and what the checks share.
type doctor struct {
	Input
	envs []project.Environment
}

// environments are the project's environments, or only Env.
func (in Input) environments() []project.Environment {
	if in.Project == nil {
		return nil
	}
	var envs []project.Environment
	for _, e := range in.Project.Spec.Environments {
		if in.Env == "" || e.Name == in.Env {
			envs = append(envs, e)
		}
	}
	return envs
}

// deployment is one application in one environment.
type deployment struct {
	app      *project.ModelApplication
	env      project.Environment
	settings project.EnvironmentSpec
}

func (d deployment) target() string { return d.app.Spec.Model + "/" + d.env.Name }

// replicas is the fewest pods the environment runs, as render counts them.
func (d deployment) replicas() int64 {
	if s := d.settings.Scaling; s != nil {
		switch {
		case s.HPA != nil:
			return int64(s.HPA.Min)
		case s.KEDA != nil:
			return int64(s.KEDA.Min)
		}
	}
	if d.settings.Replicas != nil {
		return int64(*d.settings.Replicas)
	}
	return 1
}

// deployments lists every (application, environment) pair in the checked environments, in project order.
func (d *doctor) deployments() []deployment {
	var out []deployment
	for _, env := range d.envs {
		for _, app := range d.Apps {
			if s, ok := app.Spec.Resolve(env.Name); ok {
				out = append(out, deployment{app: app, env: env, settings: s})
			}
		}
	}
	return out
}

func (d *doctor) namespaces() []string {
	var out []string
	for _, e := range d.envs {
		if !slices.Contains(out, e.Namespace) {
			out = append(out, e.Namespace)
		}
	}
	return out
}

func plural(n int, word string) string {
	switch {
	case n == 1:
		return "1 " + word
	case strings.HasSuffix(word, "y"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(word, "y"))
	}
	return fmt.Sprintf("%d %ss", n, word)
}
