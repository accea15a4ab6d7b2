package cli

import (
	"context"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/project"
)

// resumeRollout annotates the environment's ModelDeployment so that marina controller resumes its paused rollout.
func (o *promoteOptions) resumeRollout(ctx context.Context) error {
	r, err := o.openRepo()
	if err != nil {
		return err
	}
	proj, err := project.Load(r)
	r.Close()
	if err != nil {
		return err
	}
	env, ok := proj.Environment(o.env)
	if !ok {
		return usagef("--env %s: marina.yaml defines %v", o.env, proj.EnvironmentNames())
	}
	ns := env.Namespace
	cfg, _, err := o.kube.restConfig()
	if err != nil {
		return err
	}
	s, err := scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return usagef("%v", err)
	}
	md := &v1alpha1.ModelDeployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.target}, md); err != nil {
		if apierrors.IsNotFound(err) {
			return failedf("no ModelDeployment %s in namespace %s: is %s rendered with backend marina and synced?", o.target, ns, o.target)
		}
		return usagef("reading ModelDeployment %s/%s: %v", ns, o.target, err)
	}
	patch := client.MergeFrom(md.DeepCopy())
	if md.Annotations == nil {
		md.Annotations = map[string]string{}
	}
	md.Annotations[v1alpha1.AnnotationResume] = "true"
	if err := c.Patch(ctx, md, patch); err != nil {
		return usagef("annotating ModelDeployment %s/%s: %v", ns, o.target, err)
	}
	return o.result(map[string]string{"modelDeployment": o.target, "namespace": ns, "resumed": "requested"}, func(w io.Writer) {
		fmt.Fprintf(w, "asked marina controller to resume %s in %s (annotation %s)\n", o.target, ns, v1alpha1.AnnotationResume)
	})
}
