package doctor

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// The times, messages and Events below are what the API returned for pods of marina render's Deployments on the
// test cluster's real node (test/node), trimmed.
var podStart = time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)

const recordedDigest = "sha256:abababababababababababababababababababababababababababababababab"

// renderedPod is a model server's pod as marina render's Deployment makes it: the model-pull init container, the
// server with a startup probe that allows 60 s, scheduled and started at podStart.
func renderedPod(phase corev1.PodPhase, init, server corev1.ContainerStatus) *corev1.Pod {
	probe := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/v2/health/ready", Port: intstr.FromString("http")}},
		PeriodSeconds: 5, FailureThreshold: 12, TimeoutSeconds: 1, SuccessThreshold: 1,
	}
	init.Name, server.Name = "model-pull", "model-server"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "iris-7d9f-x2k", Namespace: "models-staging", UID: "uid-1",
			Labels:      map[string]string{v1alpha1.LabelModel: "iris", v1alpha1.LabelVersion: "1.0.0"},
			Annotations: map[string]string{v1alpha1.AnnotationArtifactDigest: recordedDigest}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "model-pull", Image: "10.0.0.5:5000/marina/marina@sha256:1111"}},
			Containers: []corev1.Container{{Name: "model-server", Image: "10.0.0.5:5000/marina/marina-serve@sha256:2222",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}, StartupProbe: probe, ReadinessProbe: probe}},
		},
		Status: corev1.PodStatus{Phase: phase, StartTime: &metav1.Time{Time: podStart},
			InitContainerStatuses: []corev1.ContainerStatus{init}, ContainerStatuses: []corev1.ContainerStatus{server}},
	}
}

var (
	pulled  = corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}, Ready: true}
	pulling = corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	waiting = func(reason, msg string) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
	}
	exited = func(code int32, reason, msg string) *corev1.ContainerStateTerminated {
		return &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg,
			FinishedAt: metav1.Time{Time: podStart.Add(30 * time.Second)}}
	}
	crashLooping = func(restarts int32, last *corev1.ContainerStateTerminated) corev1.ContainerStatus {
		s := waiting("CrashLoopBackOff", "back-off 20s restarting failed container=model-server pod=iris-7d9f-x2k_models-staging(uid-1)")
		s.RestartCount, s.LastTerminationState = restarts, corev1.ContainerState{Terminated: last}
		return s
	}
	runningUnready = func(restarts int32) corev1.ContainerStatus {
		started := true
		return corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, Started: &started, RestartCount: restarts}
	}
	event = func(reason, container, msg string, count int32) corev1.Event {
		return corev1.Event{Reason: reason, Message: msg, Count: count, Type: corev1.EventTypeWarning,
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", UID: "uid-1", FieldPath: "spec.containers{" + container + "}"},
			LastTimestamp:  metav1.Time{Time: podStart.Add(time.Duration(count) * 5 * time.Second)}}
	}
)

const refused = `Startup probe failed: Get "http://10.244.0.7:8080/v2/health/ready": dial tcp 10.244.0.7:8080: connect: connection refused`

func TestPodsAreJudgedByTheKubeletsAndTheContainersOwnWords(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		pod      *corev1.Pod
		events   []corev1.Event
		logs     map[string]string
		gpu      bool
		after    time.Duration // since podStart
		status   Status        // "" when the pod has no problem
		evidence []string
		fix      []string
		without  string // what the evidence must not repeat
	}{
		{
			name: "an image digest the registry lacks fails with the kubelet's message and names runtime.image",
			pod: renderedPod(corev1.PodPending, pulled, waiting("ImagePullBackOff",
				`Back-off pulling image "10.0.0.5:5000/marina/marina-serve@sha256:2222": ErrImagePull: failed to pull and unpack image: 10.0.0.5:5000/marina/marina-serve@sha256:2222: not found`)),
			events: []corev1.Event{event("Failed", "model-server",
				`Failed to pull image "10.0.0.5:5000/marina/marina-serve@sha256:2222": rpc error: code = NotFound desc = failed to pull and unpack image: `+
					strings.Repeat("failed to resolve reference: ", 20)+`10.0.0.5:5000/marina/marina-serve@sha256:2222: not found`, 3)},
			status:   Fail,
			evidence: []string{"pod iris-7d9f-x2k container model-server: ImagePullBackOff: Back-off pulling image", "not found"},
			without:  "event Failed", // the Event says what the waiting message says
			fix:      []string{"the registry has no image 10.0.0.5:5000/marina/marina-serve@sha256:2222", "runtime.image in applications/iris/model.yaml"},
		},
		{
			name: "a pull error the waiting message leaves out is taken from the kubelet's Failed Event",
			pod:  renderedPod(corev1.PodPending, waiting("ErrImagePull", "ErrImagePull"), waiting("PodInitializing", "")),
			events: []corev1.Event{event("Failed", "model-pull", `Failed to pull image "10.0.0.5:5000/marina/marina@sha256:1111": unexpected status from HEAD request: 401 Unauthorized`, 2),
				event("Failed", "model-pull", "Error: ErrImagePull", 3)},
			status:   Fail,
			evidence: []string{"container model-pull: ErrImagePull", "401 Unauthorized"},
			fix:      []string{"refuses to give 10.0.0.5:5000/marina/marina@sha256:1111", "imagePullSecrets"},
		},
		{
			name:   "a crash loop shows the exit code and the last line of the previous instance's log",
			pod:    renderedPod(corev1.PodRunning, pulled, crashLooping(3, exited(2, "Error", ""))),
			logs:   map[string]string{"model-server": "Error: --model /models/iris.onnx: no such file (pass an ONNX file or NAME@VERSION)"},
			status: Fail,
			evidence: []string{"container model-server: CrashLoopBackOff, restarted 3 times; exit code 2 (Error) at 2026-12-06T17:00:30Z",
				"Error: --model /models/iris.onnx: no such file"},
			fix: []string{"runtime.args", "applications/iris/model.yaml", "kubectl -n models-staging logs iris-7d9f-x2k -c model-server --previous"},
		},
		{
			name:     "a termination message is quoted instead of the log",
			pod:      renderedPod(corev1.PodRunning, pulled, crashLooping(1, exited(1, "Error", "model failed to load\n"))),
			logs:     map[string]string{"model-server": "not this"},
			status:   Fail,
			evidence: []string{"exit code 1 (Error) at 2026-12-06T17:00:30Z: model failed to load"},
		},
		{
			name:     "serve refusing an artifact that is not the recorded digest names artifact.digest in the version's file",
			pod:      renderedPod(corev1.PodRunning, pulled, crashLooping(2, exited(1, "Error", ""))),
			logs:     map[string]string{"model-server": "Error: /models/v1.0.0.onnx has digest sha256:05f6, but --digest says " + recordedDigest + ": refusing to serve a different artifact"},
			status:   Fail,
			evidence: []string{"exit code 1", "refusing to serve a different artifact"},
			fix:      []string{"artifact.digest " + recordedDigest, "models/iris/v1.0.0.json", "marina model register --push"},
		},
		{
			name:     "a container killed for memory names limits.memory",
			pod:      renderedPod(corev1.PodRunning, pulled, crashLooping(1, exited(137, "OOMKilled", ""))),
			status:   Fail,
			evidence: []string{"exit code 137 (OOMKilled)"},
			fix:      []string{"resources.limits.memory in applications/iris/model.yaml"},
		},
		{
			name: "a failed pull init container names artifact.uri and the registry settings",
			pod: renderedPod(corev1.PodPending, corev1.ContainerStatus{State: corev1.ContainerState{Terminated: exited(1, "Error", "")}},
				waiting("PodInitializing", "")),
			logs:     map[string]string{"model-pull": "Error: pulling oci://10.0.0.5:5000/models/iris@sha256:9999: not found"},
			status:   Fail,
			evidence: []string{"container model-pull: restarted 0 times; exit code 1 (Error)", "pulling oci://10.0.0.5:5000/models/iris@sha256:9999: not found"},
			fix:      []string{"artifact.uri in models/iris/v1.0.0.json", "runtime.artifact.plainHTTP"},
		},
		{
			name:     "a container Running but never Ready past its startup probe's allowance fails with the probe's message",
			pod:      renderedPod(corev1.PodRunning, pulled, runningUnready(0)),
			events:   []corev1.Event{event("Unhealthy", "model-server", refused, 13)},
			after:    75 * time.Second,
			status:   Fail,
			evidence: []string{"pod iris-7d9f-x2k container model-server not Ready after 1m15s (its startup probe allows 1m0s): probe failed 13 times, last: " + refused},
			fix:      []string{"nothing listens on port 8080 (http)", "runtime.port in applications/iris/model.yaml"},
		},
		{
			name:     "probes failing within the allowance only warn: the model may still be loading",
			pod:      renderedPod(corev1.PodRunning, pulled, runningUnready(0)),
			events:   []corev1.Event{event("Unhealthy", "model-server", refused, 4)},
			after:    20 * time.Second,
			status:   Warn,
			evidence: []string{"not Ready after 20s (its startup probe allows 1m0s): probe failed 4 times"},
		},
		{
			name:  "a pod starting within the allowance without a failed probe has no problem",
			pod:   renderedPod(corev1.PodRunning, pulled, runningUnready(0)),
			after: 10 * time.Second,
		},
		{
			name:  "a pod still pulling its model has no problem",
			pod:   renderedPod(corev1.PodPending, pulling, waiting("PodInitializing", "")),
			after: 10 * time.Second,
		},
		{
			name: "a container the kubelet restarts for a failed startup probe is judged by the probe, not as a crash",
			pod:  renderedPod(corev1.PodRunning, pulled, crashLooping(1, exited(2, "Error", ""))),
			events: []corev1.Event{event("Unhealthy", "model-server", refused, 12),
				event("Killing", "model-server", "Container model-server failed startup probe, will be restarted", 1)},
			after:    70 * time.Second,
			status:   Fail,
			evidence: []string{"not Ready after 1m10s", "restarted 1 time", "connection refused"},
			fix:      []string{"runtime.port"},
		},
		{
			name:     "a server without the probe's path names the health endpoints",
			pod:      renderedPod(corev1.PodRunning, pulled, runningUnready(0)),
			events:   []corev1.Event{event("Unhealthy", "model-server", "Startup probe failed: HTTP probe failed with statuscode: 404", 14)},
			after:    90 * time.Second,
			status:   Fail,
			evidence: []string{"statuscode: 404"},
			fix:      []string{"the server has no /v2/health/ready"},
		},
		{
			name:     "a pod not Ready long after its allowance fails even when its Events have expired",
			pod:      renderedPod(corev1.PodRunning, pulled, runningUnready(0)),
			after:    3 * time.Hour,
			status:   Fail,
			evidence: []string{"not Ready after 3h0m0s", "no probe failure in its Events"},
			fix:      []string{"kubectl -n models-staging describe pod iris-7d9f-x2k"},
		},
		{
			name: "a CPU model's unschedulable pod fails with the scheduler's message",
			pod: func() *corev1.Pod {
				p := renderedPod(corev1.PodPending, corev1.ContainerStatus{}, corev1.ContainerStatus{})
				p.Status.InitContainerStatuses, p.Status.ContainerStatuses = nil, nil
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient cpu."}}
				return p
			}(),
			status:   Fail,
			evidence: []string{"pod iris-7d9f-x2k: Unschedulable: 0/1 nodes are available: 1 Insufficient cpu."},
			fix:      []string{"lower the requests in applications/iris/model.yaml"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := podView{pod: tc.pod, events: tc.events, logs: tc.logs, gpu: tc.gpu}
			if v.logs == nil {
				v.logs = map[string]string{}
			}
			got := judgePod(v, podStart.Add(tc.after))
			if tc.status == "" {
				if len(got) > 0 {
					t.Fatalf("want no problem, got %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one problem, got %+v", got)
			}
			p := got[0]
			if p.status != tc.status {
				t.Errorf("status %s, want %s (%s)", p.status, tc.status, p.evidence)
			}
			for _, s := range tc.evidence {
				if !strings.Contains(p.evidence, s) {
					t.Errorf("evidence %q lacks %q", p.evidence, s)
				}
			}
			if tc.without != "" && strings.Contains(p.evidence, tc.without) {
				t.Errorf("evidence %q has %q", p.evidence, tc.without)
			}
			for _, s := range tc.fix {
				if !strings.Contains(p.fix, s) {
					t.Errorf("fix %q lacks %q", p.fix, s)
				}
			}
			if p.fix == "" {
				t.Errorf("%s without a fix: %s", p.status, p.evidence)
			}
		})
	}
}

func TestAGPUModelsUnschedulablePodIsLeftToTheGPUCheck(t *testing.T) {
	t.Parallel()
	p := renderedPod(corev1.PodPending, corev1.ContainerStatus{}, corev1.ContainerStatus{})
	p.Status.InitContainerStatuses, p.Status.ContainerStatuses = nil, nil
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes"}}
	if got := judgePod(podView{pod: p, gpu: true}, podStart); len(got) > 0 {
		t.Fatalf("want none, got %+v", got)
	}
}

func TestWhatCouldNotBeReadIsAWarningWithWhatToDoAboutIt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		err      error
		evidence string
		fix      string
	}{
		{"a forbidden read names the role that grants it",
			apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New(`User "x" cannot list resource "events"`)), "forbidden", "marina-doctor"},
		{"a kubelet the API server cannot reach names the address types",
			errors.New(`Get "https://real-node:10250/containerLogs/models-staging/iris/model-server": dial tcp: lookup real-node: no such host`), "no such host", "--kubelet-preferred-address-types"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := podView{pod: renderedPod(corev1.PodRunning, pulled, runningUnready(0)), unread: []unread{{"the log of pod iris", tc.err}}}
			got := judgePod(v, podStart)
			if len(got) != 1 || got[0].status != Warn || !strings.Contains(got[0].evidence, tc.evidence) || !strings.Contains(got[0].fix, tc.fix) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestTheLastLogLineIsQuotedOnOneLineAndCapped(t *testing.T) {
	t.Parallel()
	if got := lastLine("starting\nError: boom\n\n"); got != "Error: boom" {
		t.Errorf("lastLine = %q", got)
	}
	if got := lastLine(strings.Repeat("x", 2*maxQuote)); len(got) > maxQuote+len("…") {
		t.Errorf("lastLine is %d bytes, want at most %d", len(got), maxQuote)
	}
}
