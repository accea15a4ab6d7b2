package ui

import (
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/status"
)

// RefreshSeconds is how often a rollout page reloads itself: a meta refresh, no script.
const RefreshSeconds = 5

// rolloutView is a ModelDeployment's page: its rollout as the cluster has it, its Events, and the shadow charts.
type rolloutView struct {
	layout
	Namespace, Name string
	*status.Rollout
	// Step says where the rollout is in its strategy's steps.
	Step   string
	Shadow shadowView
}

func (d *dashboard) rollout(w http.ResponseWriter, req *http.Request) {
	ns, name := req.PathValue("namespace"), req.PathValue("name")
	if d.opts.Cluster == nil {
		d.fail(w, req, http.StatusNotFound, "No cluster", fmt.Sprintf("the rollout of ModelDeployment %s/%s is in a cluster, and this marina ui reads none: start it with --cluster (the current kubeconfig context), --kubeconfig FILE or --context NAME", ns, name))
		return
	}
	q, err := parseShadowQuery(req)
	if err != nil {
		d.fail(w, req, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	r, err := d.opts.Cluster.Rollout(req.Context(), ns, name)
	switch {
	case apierrors.IsNotFound(err):
		d.fail(w, req, http.StatusNotFound, "No such rollout", fmt.Sprintf("the cluster has no ModelDeployment %s in namespace %s", name, ns))
		return
	case err != nil:
		d.fail(w, req, http.StatusBadGateway, "The cluster could not be read", err.Error())
		return
	}
	now := d.opts.Now()
	v := rolloutView{
		layout:    layout{Title: ns + "/" + name, Now: now, Refresh: RefreshSeconds},
		Namespace: ns, Name: name, Rollout: r, Step: step(r.Deployment),
	}
	v.Shadow = d.shadow(req.Context(), r.Deployment, q, now)
	d.render(w, req, http.StatusOK, rolloutTemplate(), v)
}

// step says which step of its strategy md's rollout is at, as status.currentStepIndex counts them.
func step(md *v1alpha1.ModelDeployment) string {
	st := md.Status
	if st.CurrentStepIndex == nil {
		return "no step in progress"
	}
	i := int(*st.CurrentStepIndex)
	n := strconv.Itoa(i)
	var steps []v1alpha1.CanaryStep
	switch s := md.Spec.Strategy; {
	case s != nil && s.Canary != nil:
		steps = s.Canary.Steps
	case s != nil && s.Shadow != nil:
		steps = s.Shadow.Steps
		switch i {
		case 0:
			return "step 0: bringing the new version up"
		case 1:
			return fmt.Sprintf("step 1: mirroring %d%% of requests to the new version and judging its answers", s.Shadow.Percent)
		}
		i -= 2
	default: // a rolling update or blue-green has no steps of its own
		return "step " + n
	}
	if i >= len(steps) {
		return "step " + n + ": all steps done, the new version goes to full size"
	}
	return fmt.Sprintf("step %s (%d of %d): %s", n, i+1, len(steps), describe(steps[i]))
}

// describe says what a canary step does.
func describe(s v1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("set the new version's weight to %d%%", *s.SetWeight)
	case s.Pause != nil && s.Pause.Duration != "":
		return "pause for " + string(s.Pause.Duration)
	case s.Pause != nil:
		return "pause until resumed"
	case s.Analysis != nil:
		return "run analysis " + s.Analysis.Template
	}
	return "an empty step"
}
