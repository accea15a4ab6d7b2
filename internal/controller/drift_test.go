package controller_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestWhatSomeoneElseChangesInAnAppliedObjectIsCorrected: an object the controller applied is changed by another
// writer (an Update, as kubectl edit sends) in a field the controller sets but that is neither replicas nor a
// selector; the controller applies it again, although what it wants did not change.
func TestWhatSomeoneElseChangesInAnAppliedObjectIsCorrected(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	ns := namespace(t, c, "drift")
	startController(t, c)
	md := e2eDeployment(ns, "1.0.0", "", nil)
	create(t, c, md)
	waitOn(t, c, ns, "a status", 30*time.Second, func(md *v1alpha1.ModelDeployment) bool { return md.Status.ObservedGeneration == md.Generation })

	for _, tc := range []struct {
		name     string
		obj      client.Object
		edit     func(client.Object)
		restored func(client.Object) bool
	}{
		{"the Deployment's image", &appsv1.Deployment{}, func(o client.Object) {
			o.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image = "registry.example.com/someone-else:1"
		}, func(o client.Object) bool {
			return o.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image == md.Spec.Runtime.Image
		}},
		// Not the port itself: it keys the ports list, so another port is another writer's entry, which an apply
		// leaves alone.
		{"the Service's target port", &corev1.Service{}, func(o client.Object) {
			o.(*corev1.Service).Spec.Ports[0].TargetPort = intstr.FromInt32(9999)
		}, func(o client.Object) bool {
			p := o.(*corev1.Service).Spec.Ports
			return len(p) == 1 && p[0].Port == controller.ServicePort && p[0].TargetPort == intstr.FromString("http")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			name := e2eModel + "-1-0-0"
			if _, ok := tc.obj.(*corev1.Service); ok {
				name = e2eModel + "-stable"
			}
			key := client.ObjectKey{Namespace: ns, Name: name}
			if err := c.Client.Get(ctx, key, tc.obj); err != nil {
				t.Fatal(err)
			}
			tc.edit(tc.obj)
			if err := c.Client.Update(ctx, tc.obj); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := eventually.Poll(wctx, func(ctx context.Context) (bool, error) {
				err := c.Client.Get(ctx, key, tc.obj)
				return err == nil && tc.restored(tc.obj), err
			}); err != nil {
				t.Fatalf("%s %s was not applied again: %v", tc.obj.GetObjectKind().GroupVersionKind().Kind, name, err)
			}
		})
	}
}
