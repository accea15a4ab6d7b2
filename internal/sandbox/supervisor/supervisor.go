package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis/prometheustest"
	"github.com/marina-dev/marina/internal/sandbox"
	"github.com/marina-dev/marina/internal/testenv"
)

// realNodeName is the sandbox's real node.
const realNodeName = "sandbox-node"

// box is a starting or running sandbox, inside the supervisor.
type box struct {
	o     sandbox.Options
	tb    *runner
	state sandbox.State

	c    *testenv.Cluster
	reg  *testenv.Registry
	prom *prometheustest.Server
	// serve and pull are marina-serve's and marina's images in the registry, by digest.
	serve, pull string
}

// Supervise starts a sandbox, writes state.json (PhaseReady with every address once all is up), keeps it running
// until ctx ends and then tears everything down. It is what `marina sandbox up` runs detached; its log is log.
func Supervise(ctx context.Context, o sandbox.Options, log io.Writer) error {
	if os.Geteuid() != 0 {
		return sandbox.ErrNotRoot
	}
	unlock, err := sandbox.LockDir(o.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	s := &box{o: o, tb: newRunner(log, filepath.Join(o.Dir, "tmp")),
		state: sandbox.State{PID: os.Getpid(), Phase: sandbox.PhaseStarting, Started: time.Now().UTC(), Log: filepath.Join(o.Dir, sandbox.LogFile)}}
	if err := sandbox.WriteState(o.Dir, s.state); err != nil {
		return err
	}
	startErr := s.start(ctx)
	if startErr == nil {
		s.state.Phase = sandbox.PhaseReady
		if err := sandbox.WriteState(o.Dir, s.state); err != nil {
			startErr = err
		} else {
			s.tb.Logf("%sready", sandbox.ProgressPrefix)
			<-ctx.Done()
		}
	}
	if startErr != nil {
		s.state.Phase, s.state.Error = sandbox.PhaseFailed, startErr.Error()
	} else {
		s.state.Phase = sandbox.PhaseStopping
	}
	_ = sandbox.WriteState(o.Dir, s.state)
	s.tb.Logf("%sstopping every component", sandbox.ProgressPrefix)
	downErr := s.tb.teardown()
	if downErr != nil {
		s.tb.Logf("teardown: %v", downErr)
	}
	if startErr != nil {
		return startErr // state.json stays, saying why
	}
	if err := os.Remove(filepath.Join(o.Dir, sandbox.StateFile)); err != nil {
		return errors.Join(downErr, err)
	}
	s.tb.Logf("%sstopped", sandbox.ProgressPrefix)
	return downErr
}

// step is one part of the start, run in order.
type step struct {
	name string
	run  func()
}

// start runs the steps, stopping at the first that fails or when ctx ends (down during up).
func (s *box) start(ctx context.Context) error {
	steps := []step{
		{"control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok", s.controlPlane},
		{"OCI registry on the host's address", s.registry},
		{"marina's images (make image), pushed to the registry", s.images},
		{"real node: containerd, runc, CNI, kubelet, kube-proxy, CoreDNS (waits while another real node runs here)", s.node},
		{"marina controller, as the ServiceAccount of config/rbac", s.controller},
		{"Prometheus, which the analyses of " + sandbox.DemoModel + "'s rollouts query", s.startPrometheus},
		{"Git server on loopback with the model repository, its versions pushed to the registry", s.gitRepo},
		{"Flux syncing the repository; the models' Pods Ready", s.flux},
		{"Prometheus scraping every model server and router", s.scraped},
		{"marina ui in the cluster (config/ui) on the real node", s.ui},
		{"loopback endpoints of the models", s.endpoints},
	}
	for i, st := range steps {
		if ctx.Err() != nil {
			return errors.New("stopped before it was up")
		}
		s.tb.Logf("%s[%d/%d] %s", sandbox.ProgressPrefix, i+1, len(steps), st.name)
		began := time.Now()
		if err := s.tb.do(st.run); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		s.tb.Logf("%s      done in %s", sandbox.ProgressPrefix, time.Since(began).Round(100*time.Millisecond))
		if err := sandbox.WriteState(s.o.Dir, s.state); err != nil {
			return err
		}
	}
	return nil
}

func (s *box) controlPlane() {
	// InClusterClients: marina router's Pods read their ModelDeployment from the API server, as in any cluster.
	s.c = testenv.Start(s.tb, testenv.Options{CRDs: true, Workloads: true, InClusterClients: true})
	s.state.Kubeconfig = s.c.Kubeconfig
}

func (s *box) registry() {
	s.reg = testenv.StartRegistry(s.tb, testenv.RegistryOptions{HostIP: true})
	s.state.Registry = s.reg.Host
}

func (s *box) images() {
	build := testenv.MakeImage(s.tb, filepath.Join(s.tb.TempDir(), "layout"), s.reg.Host+"/marina", true)
	s.serve = s.reg.Host + "/marina/marina-serve@" + build.Digests["marina-serve"]
	s.pull = s.reg.Host + "/marina/marina@" + build.Digests["marina"]
}

// node starts the real node, where every CPU model runs, with CoreDNS (marina router reaches the versions by their
// Services' names), and a kwok node with two GPUs, a stand-in for what no machine here has: GPU models are
// scheduled there and become Ready without running.
func (s *box) node() {
	s.c.StartRealNode(s.tb, testenv.RealNode{Name: realNodeName, Registry: s.reg, DNS: true})
	s.c.AddNode(s.tb, testenv.Node{Name: "gpu-kwok", GPUs: 2})
}

func (s *box) controller() {
	s.c.InstallRBAC(s.tb, testenv.Installs[0])
	sa := s.c.ServiceAccount(s.tb, testenv.ControllerNamespace, "marina-controller")
	s.c.StartController(s.tb, s.o.Marina, sa.Kubeconfig)
}

// startPrometheus starts Prometheus before the repository is rendered: the analyses name its address.
func (s *box) startPrometheus() {
	s.prom = s.c.StartPrometheus(s.tb, realNodeName)
	s.state.Prometheus = s.prom.Address()
}

// scraped waits until Prometheus scrapes every marina Pod on the real node: model servers and routers.
func (s *box) scraped() {
	var pods corev1.PodList
	if err := s.c.Client.List(context.Background(), &pods, client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedBy},
		client.MatchingFields{"spec.nodeName": realNodeName}); err != nil {
		s.tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Every model server on the real node is a target that is up.
	s.prom.WaitForData(ctx, s.tb, `up{job="marina-models"} == 1`, len(pods.Items))
}
