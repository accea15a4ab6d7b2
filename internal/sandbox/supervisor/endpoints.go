package supervisor

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/modelpod"
	"github.com/marina-dev/marina/internal/testenv"
)

// endpoints gives every model that runs on the real node a loopback URL: a port on 127.0.0.1 whose connections
// the supervisor relays to the model's Service (its ClusterIP, which the host reaches through kube-proxy's rules,
// load-balanced across the Pods). A relay rather than a NodePort on 127.0.0.1: kube-proxy answers loopback
// NodePorts only with the host's net.ipv4.conf.all.route_localnet=1, a security-relevant setting the sandbox would
// have to change and restore; and rendered Services are ClusterIP, which the repository, not the sandbox, decides.
func (s *box) endpoints() {
	ctx := context.Background()
	var svcs corev1.ServiceList
	if err := s.c.Client.List(ctx, &svcs, client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedBy}); err != nil {
		s.tb.Fatal(err)
	}
	s.state.Endpoints = map[string]string{}
	for _, svc := range svcs.Items {
		key, ok := endpointKey(svc)
		if !ok || !s.onRealNode(ctx, svc) {
			continue
		}
		s.state.Endpoints[key] = "http://" + relay(s.tb, s.c.Client, client.ObjectKeyFromObject(&svc))
	}
	if len(s.state.Endpoints) == 0 {
		s.tb.Fatalf("no model Service has Pods on the real node %s: the repository deploys no CPU model", realNodeName)
	}
}

// endpointKey is MODEL/ENV when svc is the Service a model's traffic goes to in an environment: the one named as
// the model, which its route sends to — marina router's for backend marina, whose controller also makes
// MODEL-stable and MODEL-canary, Services of one version each that bypass the router.
func endpointKey(svc corev1.Service) (string, bool) {
	model, env := svc.Labels[v1alpha1.LabelModel], svc.Labels[v1alpha1.LabelEnvironment]
	if model == "" || env == "" || svc.Name != model {
		return "", false
	}
	return model + "/" + env, true
}

// onRealNode reports whether the Service selects a Pod on the real node (GPU models run on the kwok stand-in and
// answer nothing).
func (s *box) onRealNode(ctx context.Context, svc corev1.Service) bool {
	var pods corev1.PodList
	if err := s.c.Client.List(ctx, &pods, client.InNamespace(svc.Namespace), client.MatchingLabels(svc.Spec.Selector)); err != nil {
		return false
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == realNodeName {
			return true
		}
	}
	return false
}

// relay listens on a free loopback port and relays every connection to the Service's ClusterIP and first port,
// read at each connection (a Service Flux re-creates keeps working); it stops in teardown. It returns the address.
func relay(tb testenv.TB, c client.Client, key client.ObjectKey) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			go relayConn(conn, c, key)
		}
	})
	return l.Addr().String()
}

// relayConn copies between conn and the Service until either side closes.
func relayConn(conn net.Conn, c client.Client, key client.ObjectKey) {
	defer func() { _ = conn.Close() }()
	var svc corev1.Service
	if err := c.Get(context.Background(), key, &svc); err != nil || len(svc.Spec.Ports) == 0 || svc.Spec.ClusterIP == "" {
		return
	}
	port := svc.Spec.Ports[0].Port
	for _, p := range svc.Spec.Ports {
		if p.Name == modelpod.PortName {
			port = p.Port
		}
	}
	up, err := net.Dial("tcp", net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(port))))
	if err != nil {
		return
	}
	defer func() { _ = up.Close() }()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, conn)
		if tcp, ok := up.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(conn, up)
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.CloseWrite()
	}
	<-done
}
