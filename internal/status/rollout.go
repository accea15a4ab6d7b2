package status

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// Rollout is a ModelDeployment as the cluster has it, with the Events about it.
type Rollout struct {
	Deployment *v1alpha1.ModelDeployment
	// Events are the core/v1 Events whose involvedObject is the ModelDeployment, newest first.
	Events []corev1.Event
}

// Rollout reads the ModelDeployment namespace/name and its Events. A ModelDeployment that does not exist is an
// error apierrors.IsNotFound recognizes.
func (c *Cluster) Rollout(ctx context.Context, namespace, name string) (*Rollout, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(modelDeploymentGVK)
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		return nil, fmt.Errorf("reading ModelDeployment %s/%s from the cluster at %s: %w", namespace, name, c.host, err)
	}
	md := &v1alpha1.ModelDeployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, md); err != nil {
		return nil, fmt.Errorf("ModelDeployment %s/%s: %w", namespace, name, err)
	}
	var events corev1.EventList
	err := c.client.List(ctx, &events, client.InNamespace(namespace), client.MatchingFields{
		"involvedObject.kind": modelDeploymentGVK.Kind, "involvedObject.name": name, "involvedObject.uid": string(md.UID),
	})
	if err != nil {
		return nil, fmt.Errorf("reading the Events of ModelDeployment %s/%s from the cluster at %s: %w", namespace, name, c.host, err)
	}
	slices.SortStableFunc(events.Items, func(a, b corev1.Event) int { return EventTime(b).Compare(EventTime(a)) })
	return &Rollout{Deployment: md, Events: events.Items}, nil
}

// EventTime is when an Event last happened: its lastTimestamp, else its eventTime (events.k8s.io's recorders set
// only that), else when it was created.
func EventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
