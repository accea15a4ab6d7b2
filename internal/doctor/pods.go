package doctor

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/modelpod"
	"github.com/marina-dev/marina/internal/project"
)

// What the pods check reads of a crashed container's log: its last words, not the whole of it (a log may hold
// anything the server printed; the evidence quotes one line).
const (
	logTailLines = 20
	logBytes     = 16 << 10
	maxQuote     = 512
)

// PodLogger reads the end of a container's log, as kubectl logs --tail does; previous reads the instance before
// the current one (--previous).
type PodLogger interface {
	TailLog(ctx context.Context, namespace, pod, container string, previous bool) (string, error)
}

// APILogs reads container logs through the API server's pods/log subresource, which asks the node's kubelet.
type APILogs struct {
	Pods corev1client.PodsGetter
}

var _ PodLogger = APILogs{}

// TailLog returns the last lines of the container's log.
func (a APILogs) TailLog(ctx context.Context, namespace, pod, container string, previous bool) (string, error) {
	tail, limit := int64(logTailLines), int64(logBytes)
	opts := &corev1.PodLogOptions{Container: container, Previous: previous, TailLines: &tail, LimitBytes: &limit}
	rc, err := a.Pods.Pods(namespace).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(io.LimitReader(rc, logBytes))
	return string(b), err
}

// Container waiting reasons, as the kubelet reports them.
var (
	pullReasons  = []string{"ImagePullBackOff", "ErrImagePull", "InvalidImageName"}
	startReasons = []string{"CreateContainerError", "RunContainerError"}
)

const (
	reasonCrashLoop      = "CrashLoopBackOff"
	reasonConfigError    = "CreateContainerConfigError"
	reasonUnhealthy      = "Unhealthy" // the kubelet's Event for a failed probe
	reasonKilling        = "Killing"   // … and for a container it stops, after a failed startup or liveness probe
	reasonFailed         = "Failed"    // … and for a failed pull or start
	eventRetentionNotice = "Events expire (an hour by default)"
)

// checkPods judges the pods of each model in each environment, one check per model: images that cannot be
// pulled, containers that cannot start or keep crashing (with their last words: the termination message, else the
// last line of their log), containers that run but never get Ready (with the probe's failures from Events), and
// pods of models without GPUs that cannot be scheduled (the GPU check reports those of GPU models).
func (d *doctor) checkPods(ctx context.Context) []Check {
	gpuModels := map[string]bool{}
	for _, dep := range d.gpuDeployments() {
		gpuModels[dep.target()] = true
	}
	var out []Check
	for _, env := range d.envs {
		pods, err := d.modelPods(ctx, env.Namespace, nil)
		if err != nil {
			out = append(out, readError(Check{Name: CheckPods, Target: env.Namespace}, "Pods in "+env.Namespace, err))
			continue
		}
		if len(pods) == 0 {
			out = append(out, Check{Name: CheckPods, Target: env.Namespace, Status: Skip, Evidence: "no model pods in " + env.Namespace})
			continue
		}
		byModel := map[string][]corev1.Pod{}
		var models []string
		for _, p := range pods {
			m := p.Labels[v1alpha1.LabelModel]
			if _, ok := byModel[m]; !ok {
				models = append(models, m)
			}
			byModel[m] = append(byModel[m], p)
		}
		slices.Sort(models)
		for _, m := range models {
			out = append(out, d.modelPodsCheck(ctx, m+"/"+env.Name, byModel[m], gpuModels[m+"/"+env.Name]))
		}
	}
	return out
}

// modelPodsCheck judges the pods of one model in one environment; Ready pods need no further reads.
func (d *doctor) modelPodsCheck(ctx context.Context, target string, pods []corev1.Pod, gpu bool) Check {
	c := Check{Name: CheckPods, Target: target, Status: Pass}
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	ready := 0
	var evidence, fixes []string
	for i := range pods {
		p := &pods[i]
		if podReady(p) {
			ready++
			continue
		}
		for _, pr := range judgePod(d.view(ctx, p, gpu), now) {
			if pr.status == Fail || c.Status == Pass {
				c.Status = pr.status
			}
			evidence = append(evidence, pr.evidence)
			if !slices.Contains(fixes, pr.fix) {
				fixes = append(fixes, pr.fix)
			}
		}
	}
	if c.Status == Pass {
		c.Evidence = fmt.Sprintf("%s (%d Ready), none failing to pull, start, get Ready or schedule", plural(len(pods), "model pod"), ready)
		return c
	}
	c.Evidence = strings.Join(evidence, "; ")
	c.Fix = strings.Join(fixes, "; ")
	return c
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podView is a pod that is not Ready as the pods check judges it: the pod, its Events, and the last log line of
// each container that exited with an error and left no termination message.
type podView struct {
	pod    *corev1.Pod
	events []corev1.Event
	// logs maps a container's name to the last line of its log (of the instance that exited).
	logs map[string]string
	// gpu says the pod is a GPU model's, whose scheduling the GPU check judges.
	gpu bool
	// unread says what could not be read (Events, logs) and why.
	unread []unread
}

// unread is something the pods check could not read.
type unread struct {
	what string
	err  error
}

// view reads what judging p needs: its Events, and the logs of the containers whose exit left no message.
func (d *doctor) view(ctx context.Context, p *corev1.Pod, gpu bool) podView {
	v := podView{pod: p, logs: map[string]string{}, gpu: gpu}
	var events corev1.EventList
	if err := d.Client.List(ctx, &events, client.InNamespace(p.Namespace), client.MatchingFields{"involvedObject.name": p.Name}); err != nil {
		v.unread = append(v.unread, unread{"the Events of pod " + p.Name, err})
	}
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.UID == p.UID {
			v.events = append(v.events, e)
		}
	}
	if d.Logs == nil {
		return v
	}
	for _, cs := range containerStatuses(p) {
		t, previous := lastExit(cs)
		if t == nil || t.ExitCode == 0 || strings.TrimSpace(t.Message) != "" {
			continue
		}
		log, err := d.Logs.TailLog(ctx, p.Namespace, p.Name, cs.Name, previous)
		if err != nil {
			v.unread = append(v.unread, unread{fmt.Sprintf("the log of pod %s container %s", p.Name, cs.Name), err})
			continue
		}
		v.logs[cs.Name] = lastLine(log)
	}
	return v
}

func containerStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	return append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
}

// lastExit is the container's most recent exit: its current state when it is terminated, else the state before
// (previous: its log is the previous instance's).
func lastExit(cs corev1.ContainerStatus) (t *corev1.ContainerStateTerminated, previous bool) {
	if cs.State.Terminated != nil {
		return cs.State.Terminated, false
	}
	return cs.LastTerminationState.Terminated, true
}

// lastLine is the last non-empty line of a log, capped.
func lastLine(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	return quote(lines[len(lines)-1])
}

func quote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxQuote {
		s = s[:maxQuote] + "…"
	}
	return s
}

// podProblem is one reason a pod does not serve.
type podProblem struct {
	status        Status
	evidence, fix string
}

// judgePod says why a pod that is not Ready does not serve, container by container (init containers first); a
// pod that is merely starting within its probes' allowance has no problem.
func judgePod(v podView, now time.Time) []podProblem {
	p := v.pod
	var out []podProblem
	if msg, ok := unschedulable(p); ok {
		if !v.gpu {
			out = append(out, podProblem{Fail, fmt.Sprintf("pod %s: Unschedulable: %s", p.Name, msg),
				"add nodes or lower the requests in " + v.app() + "; kubectl -n " + p.Namespace + " describe pod " + p.Name + " shows the scheduler's reasons"})
		}
		return out
	}
	for _, cs := range containerStatuses(p) {
		if pr, ok := v.judgeContainer(cs, now); ok {
			out = append(out, pr)
		}
	}
	for _, u := range v.unread {
		fix := "the API server could not get it from the node's kubelet (kubectl logs fails the same way): check that the API server reaches the nodes' kubelets on their InternalIP (--kubelet-preferred-address-types)"
		if apierrors.IsForbidden(u.err) {
			fix = "give the user of this kubeconfig read access to events and pods/log (the marina-doctor ClusterRole of config/rbac has it)"
		}
		out = append(out, podProblem{Warn, fmt.Sprintf("could not read %s: %v", u.what, u.err), fix})
	}
	return out
}

func (v podView) judgeContainer(cs corev1.ContainerStatus, now time.Time) (podProblem, bool) {
	who := fmt.Sprintf("pod %s container %s", v.pod.Name, cs.Name)
	w := cs.State.Waiting
	if w != nil && slices.Contains(pullReasons, w.Reason) {
		return v.pullProblem(cs, w), true
	}
	if w != nil && w.Reason == reasonConfigError {
		return podProblem{Fail, fmt.Sprintf("%s: %s: %s", who, w.Reason, w.Message),
			"a ConfigMap or Secret the pod references is missing: run marina render --write, sync, and check the secrets in " + v.app()}, true
	}
	if w != nil && slices.Contains(startReasons, w.Reason) {
		return podProblem{Fail, fmt.Sprintf("%s: %s: %s", who, w.Reason, v.withEvent(w.Message, cs.Name, reasonFailed)),
			"the runtime cannot start the container: fix what the message says (image, command, security settings) in " + v.app()}, true
	}
	t, _ := lastExit(cs)
	crashLoop := w != nil && w.Reason == reasonCrashLoop
	if crashLoop || t != nil && t.ExitCode != 0 && !cs.Ready {
		if v.probeKilled(cs.Name) {
			if pr, ok := v.notReady(cs, now); ok {
				return pr, true
			}
		}
		return v.crashProblem(cs, t), true
	}
	if cs.State.Running != nil && !cs.Ready && v.pod.Status.Phase == corev1.PodRunning && v.spec(cs.Name) != nil {
		return v.notReady(cs, now)
	}
	return podProblem{}, false
}

func (v podView) pullProblem(cs corev1.ContainerStatus, w *corev1.ContainerStateWaiting) podProblem {
	msg := v.withEvent(w.Message, cs.Name, reasonFailed)
	image := cs.Image
	if c := v.spec(cs.Name); c != nil {
		image = c.Image
	}
	field := "runtime.image"
	if cs.Name == modelpod.PullContainer {
		field = "runtime.artifact.pullImage"
	}
	pr := podProblem{status: Fail, evidence: fmt.Sprintf("pod %s container %s: %s: %s", v.pod.Name, cs.Name, w.Reason, msg)}
	lower := strings.ToLower(msg)
	switch {
	case w.Reason == "InvalidImageName":
		pr.fix = fmt.Sprintf("%s is not an image reference: fix %s in %s, then marina render --write", image, field, v.app())
	case strings.Contains(lower, "not found") || strings.Contains(lower, "manifest unknown"):
		pr.fix = fmt.Sprintf("the registry has no image %s: push it (make image REGISTRY=… prints the digests it pushed) or set %s in %s to a reference the registry has, then marina render --write",
			image, field, v.app())
	case strings.Contains(lower, "unauthorized") || strings.Contains(lower, "denied") || strings.Contains(lower, "forbidden"):
		pr.fix = fmt.Sprintf("the registry refuses to give %s to the node: give the namespace %s credentials for it (imagePullSecrets on its ServiceAccount), or use a registry the nodes may read", image, v.pod.Namespace)
	default:
		pr.fix = fmt.Sprintf("check %s in %s (name, tag, digest) and that the nodes reach its registry; kubectl -n %s describe pod %s shows the kubelet's attempts",
			field, v.app(), v.pod.Namespace, v.pod.Name)
	}
	return pr
}

// crashProblem describes a container that exited with an error (or keeps exiting), with its last words.
func (v podView) crashProblem(cs corev1.ContainerStatus, t *corev1.ContainerStateTerminated) podProblem {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s container %s: ", v.pod.Name, cs.Name)
	if w := cs.State.Waiting; w != nil && w.Reason == reasonCrashLoop {
		b.WriteString(reasonCrashLoop + ", ")
	}
	fmt.Fprintf(&b, "restarted %s", plural(int(cs.RestartCount), "time"))
	words := ""
	if t == nil {
		if w := cs.State.Waiting; w != nil && w.Message != "" {
			fmt.Fprintf(&b, ": %s", w.Message)
		}
	} else {
		fmt.Fprintf(&b, "; exit code %d (%s) at %s", t.ExitCode, t.Reason, t.FinishedAt.UTC().Format(time.RFC3339))
		words = quote(t.Message)
		if words == "" {
			words = v.logs[cs.Name]
		}
		if words != "" {
			fmt.Fprintf(&b, ": %s", words)
		}
	}
	return podProblem{Fail, b.String(), v.crashFix(cs, t, words)}
}

func (v podView) crashFix(cs corev1.ContainerStatus, t *corev1.ContainerStateTerminated, words string) string {
	ns, pod := v.pod.Namespace, v.pod.Name
	logs := fmt.Sprintf("kubectl -n %s logs %s -c %s --previous", ns, pod, cs.Name)
	recorded := v.pod.Annotations[v1alpha1.AnnotationArtifactDigest]
	switch {
	case t != nil && t.Reason == "OOMKilled":
		return fmt.Sprintf("the container ran out of memory: raise resources.limits.memory in %s (the model and ONNX Runtime must fit), then marina render --write", v.app())
	case recorded != "" && strings.Contains(words, recorded):
		return fmt.Sprintf("the artifact the pod fetched is not the file %s records (artifact.digest %s): correct artifact.digest, or register and push the version again (marina model register --push) so the artifact and its record agree, then marina render --write",
			v.versionFile(), recorded)
	case cs.Name == modelpod.PullContainer:
		return fmt.Sprintf("the init container cannot fetch the model: check artifact.uri in %s, that the nodes reach its registry (runtime.artifact.plainHTTP for one without TLS) and runtime.artifact.pullSecret in %s; the whole log: %s",
			v.versionFile(), v.app(), logs)
	}
	return fmt.Sprintf("fix what the container says: the server's arguments and image (runtime.args, runtime.image in %s), its config or the model (%s), then marina render --write; the whole log: %s",
		v.app(), v.versionFile(), logs)
}

// notReady judges a container that runs but is not Ready: a failure once the pod is older than its probes allow
// (or the kubelet restarted it for a failed probe), a warning while probes fail within that allowance.
func (v podView) notReady(cs corev1.ContainerStatus, now time.Time) (podProblem, bool) {
	spec := v.spec(cs.Name)
	allowance, probe := probeAllowance(spec)
	var age time.Duration
	if st := v.pod.Status.StartTime; st != nil {
		age = now.Sub(st.Time).Round(time.Second)
	}
	failures, last := v.probeFailures(cs.Name)
	over := age > allowance || v.probeKilled(cs.Name)
	if !over && failures == 0 {
		return podProblem{}, false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s container %s not Ready after %s (its %s allows %s)", v.pod.Name, cs.Name, age, probe, allowance)
	if cs.RestartCount > 0 {
		fmt.Fprintf(&b, ", restarted %s", plural(int(cs.RestartCount), "time"))
	}
	if failures > 0 {
		fmt.Fprintf(&b, ": probe failed %s, last: %s", plural(failures, "time"), last)
	} else {
		b.WriteString(": no probe failure in its Events. " + eventRetentionNotice)
	}
	pr := podProblem{status: Fail, evidence: b.String(), fix: v.probeFix(spec, last)}
	if !over {
		pr.status = Warn
	}
	return pr, true
}

// probeAllowance is how long a container may take to get Ready before its probes give up: the startup probe's
// delay and failures, else the readiness probe's.
func probeAllowance(c *corev1.Container) (time.Duration, string) {
	p, name := c.StartupProbe, "startup probe"
	if p == nil {
		p, name = c.ReadinessProbe, "readiness probe"
	}
	if p == nil {
		return 0, "spec (no probe)"
	}
	return time.Duration(p.InitialDelaySeconds+p.PeriodSeconds*p.FailureThreshold) * time.Second, name
}

// probeFailures counts the kubelet's failed-probe Events of a container and returns the latest message.
func (v podView) probeFailures(container string) (int, string) {
	n, last, at := 0, "", time.Time{}
	for _, e := range v.containerEvents(container, reasonUnhealthy) {
		n += int(max(e.Count, 1))
		if t := eventTime(e); !t.Before(at) {
			at, last = t, quote(e.Message)
		}
	}
	return n, last
}

// probeKilled says whether the kubelet stopped the container because a startup or liveness probe failed.
func (v podView) probeKilled(container string) bool {
	for _, e := range v.containerEvents(container, reasonKilling) {
		if strings.Contains(e.Message, "probe") {
			return true
		}
	}
	return false
}

// withEvent adds the latest Event of reason about the container to msg, unless msg already says it. The kubelet
// follows each failure's Event with a bare "Error: <reason>" one, which says nothing new: those are passed over.
func (v podView) withEvent(msg, container, reason string) string {
	var last string
	var at time.Time
	for _, e := range v.containerEvents(container, reason) {
		if strings.HasPrefix(e.Message, "Error: ") {
			continue
		}
		if t := eventTime(e); !t.Before(at) {
			at, last = t, e.Message
		}
	}
	// The Event repeats the waiting message with a prefix: its last clause already there means nothing is new.
	if last == "" || strings.Contains(msg, last[strings.LastIndex(last, ": ")+1:]) {
		return msg
	}
	return msg + " (event " + reason + ": " + quote(last) + ")"
}

// containerEvents are the pod's Events of reason about one container (the kubelet names it in fieldPath).
func (v podView) containerEvents(container, reason string) []corev1.Event {
	var out []corev1.Event
	for _, e := range v.events {
		if e.Reason != reason {
			continue
		}
		if fp := e.InvolvedObject.FieldPath; fp == "spec.containers{"+container+"}" || fp == "spec.initContainers{"+container+"}" {
			out = append(out, e)
		}
	}
	return out
}

func eventTime(e corev1.Event) time.Time {
	for _, t := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func (v podView) probeFix(c *corev1.Container, last string) string {
	port, path := probeTarget(c)
	lower := strings.ToLower(last)
	switch {
	case strings.Contains(lower, "connection refused"):
		return fmt.Sprintf("nothing listens on port %s, where the probes go: runtime.port in %s must be the port the server listens on (its --addr in runtime.args), then marina render --write", port, v.app())
	case strings.Contains(lower, "statuscode: 404"):
		return fmt.Sprintf("the server has no %s, the probes' path: run marina serve (runtime.image) or a server with the Open Inference Protocol's health endpoints, in %s", path, v.app())
	case strings.Contains(lower, "statuscode:"):
		return fmt.Sprintf("the server runs but says it is not ready: read why in its log (kubectl -n %s logs %s) — a model that does not load, or loads slower than the probes allow (resources in %s)", v.pod.Namespace, v.pod.Name, v.app())
	case strings.Contains(lower, "timeout") || strings.Contains(lower, "deadline exceeded"):
		return fmt.Sprintf("the server does not answer the probes in time: give it more CPU (resources in %s) or fewer requests at once", v.app())
	}
	return fmt.Sprintf("kubectl -n %s describe pod %s shows the probes' failures; check runtime.port in %s against the port the server listens on, and the server's log", v.pod.Namespace, v.pod.Name, v.app())
}

// probeTarget is the port (number, and name when named) and path the container's probes ask.
func probeTarget(c *corev1.Container) (string, string) {
	p := c.StartupProbe
	if p == nil {
		p = c.ReadinessProbe
	}
	if p == nil || p.HTTPGet == nil {
		return "?", "?"
	}
	port := p.HTTPGet.Port.String()
	for _, cp := range c.Ports {
		if cp.Name == port {
			port = strconv.Itoa(int(cp.ContainerPort)) + " (" + cp.Name + ")"
		}
	}
	return port, p.HTTPGet.Path
}

// spec is the pod's container (or init container) of that name.
func (v podView) spec(name string) *corev1.Container {
	for _, cs := range [][]corev1.Container{v.pod.Spec.InitContainers, v.pod.Spec.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	return nil
}

// app is the model.yaml of the pod's model.
func (v podView) app() string { return project.ApplicationPath(v.pod.Labels[v1alpha1.LabelModel]) }

// versionFile is the registry file of the version the pod runs.
func (v podView) versionFile() string {
	return model.File(v.pod.Labels[v1alpha1.LabelModel], v.pod.Labels[v1alpha1.LabelVersion])
}
