package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller/rollout"
)

// WriteBackCondition records whether an aborted rollout's revert is in Git: False/Pending until it is, then
// True/Written with the commit.
const WriteBackCondition = "GitWriteBack"

// Analyzer measures an analysis template.
type Analyzer interface {
	// Measure takes the measurements of tmpl that are due at now, with the credentials in secret (nil when
	// tmpl names none), recording them in run, and returns how long until the next one is due (0 when the run is
	// over).
	Measure(ctx context.Context, tmpl v1alpha1.AnalysisTemplate, secret *corev1.Secret, run *v1alpha1.AnalysisRunStatus, now time.Time) time.Duration
}

// ErrNothingToWrite wraps a write-back that must not be retried: Git holds something newer, or a pull-request
// branch already exists without the revert. A human decides.
var ErrNothingToWrite = errors.New("not written")

// GitWriter writes an aborted rollout's revert to the model repository (package writeback's Writer).
type GitWriter interface {
	// WriteBack sets the environment of md back to its stable version and blocks the canary version, with
	// credentials from secret (nil when spec.gitWriteBack names none). It returns the commit.
	WriteBack(ctx context.Context, md *v1alpha1.ModelDeployment, secret *corev1.Secret) (string, error)
}

// The controller's ClusterRole (config/rbac/role.yaml, used by marina init's infrastructure/base too) is generated
// from these markers: least privilege for what Reconcile reads and writes.
// +kubebuilder:rbac:groups=marina.dev,resources=modeldeployments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=marina.dev,resources=modeldeployments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=marina.dev,resources=modeldeployments/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=resourcequotas,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;list;watch;patch
// The router's identity and its permission to read its ModelDeployment (a Role the controller may create because
// it holds the same verbs on modeldeployments: no escalate or bind needed), and its PodMonitor.
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=podmonitors,verbs=get;create;update;patch;delete

// Reconciler reconciles ModelDeployments.
type Reconciler struct {
	client.Client
	// APIReader reads straight from the API server what the Client's cache must not hold: Secrets. A cached read
	// would start an informer that lists and watches every Secret in scope, which the shipped role does not grant
	// (secrets: get) and the controller must not keep in memory. SetupWithManager sets the manager's when nil.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// Analyzer measures analysis steps; nil leaves them waiting.
	Analyzer Analyzer
	// Writer writes reverts to Git; nil leaves them pending.
	Writer GitWriter
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	owned ownership
	// written is the resourceVersion of each ModelDeployment (types.NamespacedName) as the last reconcile left it.
	written sync.Map
}

// SetupWithManager registers the reconciler: it watches ModelDeployments and what they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ModelDeployment{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		WithOptions(ctrlOptions(concurrency)).
		Complete(r)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile moves one ModelDeployment's rollout forward. Like Flux's reconcilers it defers one status patch, so the
// status is written on every exit, failures included: a failed step leaves Ready=False with its reason (see
// failure) and the API server's message, and observedGeneration current.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	defer func() { reconcileDuration.Observe(time.Since(start).Seconds()) }()
	md := &v1alpha1.ModelDeployment{}
	if err := r.Get(ctx, req.NamespacedName, md); err != nil {
		if apierrors.IsNotFound(err) {
			forget(req.Namespace, req.Name)
			r.written.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// The cache can lag behind the controller's own last status write (a reconcile the Deployments' events
	// started before that write's event arrived). Deciding from the older status would replay a step and its
	// side effects (weights, replicas, measurements) and patch a status that mixes both. Anything but the version
	// last written is read again from the API server: a stale cache, or someone else's newer write.
	if rv, ok := r.written.Load(req.NamespacedName); ok && rv.(string) != md.ResourceVersion {
		if err := r.APIReader.Get(ctx, req.NamespacedName, md); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if !md.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references take the rest with it
	}
	base := md.DeepCopy()
	st := md.Status.DeepCopy()
	defer func() {
		if retErr != nil {
			r.summarizeFailure(md, st, retErr)
		}
		retErr = errors.Join(retErr, r.patchStatus(ctx, base, md.ResourceVersion, st))
		md.Status = *st
		recordPhase(md)
	}()
	return r.reconcile(ctx, md, st)
}

// reconcile runs the steps of a rollout: observe, decide, analyze, apply, write back. It sets *st to the decided
// status only once the cluster has what that status says (a status naming weights the route does not have would
// send the router's traffic to a version that is not there); a failed step leaves *st as it was.
func (r *Reconciler) reconcile(ctx context.Context, md *v1alpha1.ModelDeployment, st *v1alpha1.ModelDeploymentStatus) (ctrl.Result, error) {
	now := r.now()
	obs, err := r.observe(ctx, md, now)
	if err != nil {
		return ctrl.Result{}, &failure{reason: v1alpha1.ObserveFailedReason, err: err}
	}
	d := rollout.Decide(md, obs)
	if d.Analysis != "" {
		d = r.analyze(ctx, md, obs, d)
	}
	if err := r.apply(ctx, md, d); err != nil {
		return ctrl.Result{}, &failure{reason: v1alpha1.ApplyFailedReason, err: err}
	}
	if d.WriteBack {
		meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: WriteBackCondition, Status: metav1.ConditionFalse,
			Reason: "Pending", Message: "the revert is not in Git yet", ObservedGeneration: md.Generation})
	}
	requeue := d.RequeueAfter
	if wb := meta.FindStatusCondition(d.Status.Conditions, WriteBackCondition); wb != nil && wb.Status == metav1.ConditionFalse {
		if err := r.writeBack(ctx, md, &d.Status); err != nil {
			log.FromContext(ctx).Error(err, "writing the revert to Git")
			requeue = min(nonZero(requeue, time.Minute), 30*time.Second)
		}
	}
	for _, e := range d.Events {
		typ := corev1.EventTypeNormal
		if e.Warning {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(md, nil, typ, e.Reason, "Rollout", "%s", e.Message)
	}
	if d.ConsumeResume {
		patch := client.MergeFrom(md.DeepCopy())
		delete(md.Annotations, v1alpha1.AnnotationResume)
		if err := r.Patch(ctx, md, patch); err != nil {
			return ctrl.Result{}, &failure{reason: v1alpha1.ApplyFailedReason, err: fmt.Errorf("removing annotation %s: %w", v1alpha1.AnnotationResume, err)}
		}
	}
	*st = d.Status
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// failure is an error of a reconcile step with the reason Ready reports for it.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// maxConditionMessage keeps a condition's message well inside the API's limit of 32768 bytes.
const maxConditionMessage = 4096

// summarizeFailure records a failed reconcile in st: Ready=False with the step's reason and the error (the API
// server's message), observedGeneration current, and a Warning Event.
func (r *Reconciler) summarizeFailure(md *v1alpha1.ModelDeployment, st *v1alpha1.ModelDeploymentStatus, err error) {
	reason := v1alpha1.ReconcileFailedReason
	if f, ok := errors.AsType[*failure](err); ok {
		reason = f.reason
	}
	msg := err.Error()
	if len(msg) > maxConditionMessage {
		msg = msg[:maxConditionMessage] + "…"
	}
	st.ObservedGeneration = md.Generation
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
		Reason: reason, Message: msg, ObservedGeneration: md.Generation, LastTransitionTime: metav1.NewTime(r.now())})
	r.Recorder.Eventf(md, nil, corev1.EventTypeWarning, reason, "Reconcile", "%s", msg)
}

// patchStatus writes st as a JSON merge patch against base: no resourceVersion, so no conflict with whoever wrote
// the object since it was read (a user's label, the resume annotation), and nothing sent when nothing changed. It
// remembers the version written (rv, the version read, when nothing was) for the next reconcile's freshness check.
func (r *Reconciler) patchStatus(ctx context.Context, base *v1alpha1.ModelDeployment, rv string, st *v1alpha1.ModelDeploymentStatus) error {
	key := client.ObjectKeyFromObject(base)
	if equality.Semantic.DeepEqual(base.Status, *st) {
		r.written.Store(key, rv)
		return nil
	}
	md := base.DeepCopy()
	md.Status = *st
	if err := r.Status().Patch(ctx, md, client.MergeFrom(base)); err != nil {
		r.written.Delete(key)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching the status of ModelDeployment %s/%s: %w", base.Namespace, base.Name, err)
	}
	r.written.Store(key, md.ResourceVersion)
	return nil
}

func nonZero(d, fallback time.Duration) time.Duration {
	if d == 0 {
		return fallback
	}
	return d
}

// observe reads what the cluster runs for md.
func (r *Reconciler) observe(ctx context.Context, md *v1alpha1.ModelDeployment, now time.Time) (rollout.Observed, error) {
	obs := rollout.Observed{Now: now, Workloads: map[string]rollout.Workload{}}
	_, obs.Resume = md.Annotations[v1alpha1.AnnotationResume]
	var deps appsv1.DeploymentList
	if err := r.List(ctx, &deps, client.InNamespace(md.Namespace), client.MatchingLabels(selector(md))); err != nil {
		return obs, err
	}
	var ownPods int64
	for _, d := range deps.Items {
		v := d.Labels[v1alpha1.LabelVersion]
		if v == "" || !metav1.IsControlledBy(&d, md) {
			continue
		}
		w := rollout.Workload{Ready: d.Status.ReadyReplicas}
		if d.Spec.Replicas != nil {
			w.Replicas = *d.Spec.Replicas
		}
		if d.Status.ObservedGeneration < d.Generation {
			w.Ready = min(w.Ready, d.Status.UpdatedReplicas) // a template change not yet rolled out is not ready
		}
		if refused(&d) {
			w.Refused = max(w.Replicas-d.Status.Replicas, 0)
		}
		obs.Workloads[v] = w
		// Pods asked for (and not refused) or still there, whichever is more: what the model holds of a quota.
		ownPods += int64(max(w.Replicas-w.Refused, d.Status.Replicas))
	}
	if per := gpusPerPod(md); per > 0 {
		obs.GPU.PerPod = per
		var quotas corev1.ResourceQuotaList
		if err := r.List(ctx, &quotas, client.InNamespace(md.Namespace)); err != nil {
			return obs, err
		}
		for _, q := range quotas.Items {
			for _, key := range []corev1.ResourceName{"requests." + gpuResource, gpuResource, "limits." + gpuResource} {
				hard, ok := q.Status.Hard[key]
				if !ok {
					hard, ok = q.Spec.Hard[key]
				}
				if !ok {
					continue
				}
				// The quota's status.used comes from another informer than the Deployments and can lag behind them
				// (a pod just admitted, or the quota controller recounting from a stale cache): never believe it
				// has more room than the model's own pods leave, or stable and canary both grow into one GPU.
				used := q.Status.Used[key]
				free := min(hard.Value()-used.Value(), hard.Value()-ownPods*per)
				if !obs.GPU.Limited || free < obs.GPU.Free {
					obs.GPU.Limited, obs.GPU.Free = true, max(free, 0)
				}
			}
		}
	}
	if run := currentRun(md.Status); run != nil {
		obs.Analysis, obs.AnalysisMessage, obs.AnalysisErroring = run.Phase, run.Message, erroring(run)
	}
	return obs, nil
}

// refused reports whether d's ReplicaSet could not create a pod (FailedCreate, e.g. over a ResourceQuota).
func refused(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// currentRun is the analysis run of the current step, if it has started.
func currentRun(st v1alpha1.ModelDeploymentStatus) *v1alpha1.AnalysisRunStatus {
	return st.AnalysisRun(runKey(st))
}

// runKey names the analysis run of the current step: one run per step, so a step's result never leaks into the
// next one and a restarted controller finds the run it was measuring.
func runKey(st v1alpha1.ModelDeploymentStatus) string {
	if st.CurrentStepIndex == nil {
		return ""
	}
	return fmt.Sprintf("%s-step-%d", st.CanaryVersion, *st.CurrentStepIndex)
}

// analyze takes the due measurements of the decided template and decides again if the run finished.
func (r *Reconciler) analyze(ctx context.Context, md *v1alpha1.ModelDeployment, obs rollout.Observed, d rollout.Decision) rollout.Decision {
	if r.Analyzer == nil {
		return d
	}
	run := ensureRun(&d.Status, d.Analysis, obs.Now)
	tmpl, ok := template(md, d.Analysis)
	var secret *corev1.Secret
	var err error
	if ok && tmpl.Prometheus != nil && tmpl.Prometheus.SecretRef != nil {
		secret = &corev1.Secret{}
		err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: md.Namespace, Name: tmpl.Prometheus.SecretRef.Name}, secret)
	}
	switch {
	case !ok:
		run.Phase, run.Message = v1alpha1.AnalysisError, fmt.Sprintf("no analysis template %q in spec.analysis.templates", d.Analysis)
	case err != nil:
		run.Phase, run.Message = v1alpha1.AnalysisError, fmt.Sprintf("reading Secret %s (prometheus.secretRef of template %s): %v", tmpl.Prometheus.SecretRef.Name, tmpl.Name, err)
	default:
		if next := r.Analyzer.Measure(ctx, tmpl, secret, run, obs.Now); next > 0 && (d.RequeueAfter == 0 || next < d.RequeueAfter) {
			d.RequeueAfter = next
		}
	}
	// Decide again with the measurements taken: a finished run moves the rollout on, an erroring one says why
	// it waits.
	analysisResults.WithLabelValues(string(run.Phase)).Inc()
	again := md.DeepCopy()
	again.Status = d.Status
	obs.Analysis, obs.AnalysisMessage, obs.AnalysisErroring = run.Phase, run.Message, erroring(run)
	next := rollout.Decide(again, obs)
	next.Events = append(d.Events, next.Events...)
	next.WriteBack = next.WriteBack || d.WriteBack
	if next.RequeueAfter == 0 || (d.RequeueAfter > 0 && d.RequeueAfter < next.RequeueAfter) {
		next.RequeueAfter = d.RequeueAfter
	}
	return next
}

func template(md *v1alpha1.ModelDeployment, name string) (v1alpha1.AnalysisTemplate, bool) {
	if md.Spec.Analysis != nil {
		for _, t := range md.Spec.Analysis.Templates {
			if t.Name == name {
				return t, true
			}
		}
	}
	return v1alpha1.AnalysisTemplate{}, false
}

// ensureRun returns the current step's run in st, adding it when it is new.
func ensureRun(st *v1alpha1.ModelDeploymentStatus, tmpl string, now time.Time) *v1alpha1.AnalysisRunStatus {
	if run := currentRun(*st); run != nil {
		return run
	}
	t := metav1.NewTime(now)
	st.AnalysisRuns = append(st.AnalysisRuns, v1alpha1.AnalysisRunStatus{
		Name: runKey(*st), Template: tmpl, Phase: v1alpha1.AnalysisPending, StartedAt: &t,
	})
	return &st.AnalysisRuns[len(st.AnalysisRuns)-1]
}

// apply makes the Deployments, Services, router and route match the decision.
func (r *Reconciler) apply(ctx context.Context, md *v1alpha1.ModelDeployment, d rollout.Decision) error {
	for v, n := range d.Replicas {
		if err := r.applyDeployment(ctx, md, v, n); err != nil {
			return fmt.Errorf("deployment %s: %w", deploymentName(md, v), err)
		}
	}
	var deps appsv1.DeploymentList
	if err := r.List(ctx, &deps, client.InNamespace(md.Namespace), client.MatchingLabels(selector(md))); err != nil {
		return err
	}
	for i := range deps.Items {
		dep := &deps.Items[i]
		if _, keep := d.Replicas[dep.Labels[v1alpha1.LabelVersion]]; !keep && metav1.IsControlledBy(dep, md) {
			if err := r.Delete(ctx, dep); client.IgnoreNotFound(err) != nil {
				return err
			}
			r.owned.forget(dep.UID)
		}
	}
	canary := d.Status.CanaryVersion
	if canary == "" {
		canary = d.Status.StableVersion
	}
	if err := r.applyRouter(ctx, md); err != nil {
		return err
	}
	for name, sel := range map[string]map[string]string{
		md.Name:             serviceSelector(md),
		md.Name + "-stable": versionSelector(md, d.Status.StableVersion),
		md.Name + "-canary": versionSelector(md, canary),
	} {
		svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: md.Namespace}}
		mutateService(md, svc, sel)
		if err := r.serverApply(ctx, md, svc); err != nil {
			return fmt.Errorf("service %s: %w", name, err)
		}
	}
	if d.Status.Weights != nil {
		if _, err := r.applyRoute(ctx, md, *d.Status.Weights); err != nil {
			return fmt.Errorf("HTTPRoute %s: %w", md.Name, err)
		}
	}
	return nil
}

// applyDeployment gives version v n replicas: the whole Deployment for spec.version, server-side applied (an
// unchanged one is not written); only the replicas of an older version, whose pods stay as they were created. An
// older version whose Deployment is gone cannot come back and is skipped.
func (r *Reconciler) applyDeployment(ctx context.Context, md *v1alpha1.ModelDeployment, v string, n int32) error {
	dep := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: deploymentName(md, v), Namespace: md.Namespace}}
	if v == md.Spec.Version {
		mutateDeployment(md, dep, v, n)
		return r.serverApply(ctx, md, dep)
	}
	if err := r.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
		return client.IgnoreNotFound(err)
	}
	if dep.Spec.Replicas != nil && *dep.Spec.Replicas == n {
		return nil
	}
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Replicas = &n
	return r.Patch(ctx, dep, patch)
}

// FieldManager is the controller's server-side apply field manager.
const FieldManager = "marina-controller"

// serverApply server-side applies obj, owned by md, unless the cached object already has it.
func (r *Reconciler) serverApply(ctx context.Context, md *v1alpha1.ModelDeployment, obj client.Object) error {
	if err := controllerutil.SetControllerReference(md, obj, r.Scheme); err != nil {
		return err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(m, "spec", "template", "metadata", "creationTimestamp")
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:8])
	current := obj.DeepCopyObject().(client.Object)
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), current); err == nil &&
		current.GetAnnotations()[v1alpha1.AnnotationAppliedHash] == hash && r.owned.unchanged(current) {
		return nil
	}
	if err := unstructured.SetNestedField(m, hash, "metadata", "annotations", v1alpha1.AnnotationAppliedHash); err != nil {
		return err
	}
	applied := &unstructured.Unstructured{Object: m}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(applied),
		client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return err
	}
	r.owned.remember(applied)
	return nil
}

// ownership remembers, for each object the controller applied, the fields its last apply left FieldManager owning
// (its managedFields entry). Whoever changes one of those fields afterwards (kubectl edit or scale, a patch, a
// forced apply) takes its ownership, so the entry in the cache no longer matches and the object is applied again:
// drift in anything the controller sets is corrected, not only in replicas or a selector. Fields the controller
// does not set are not compared; an apply would leave them as they are anyway. A restarted controller remembers
// nothing and applies each object once (a no-op on the server when nothing drifted).
type ownership struct {
	fields sync.Map // types.UID → sha256 of the managedFields entry's fieldsV1
}

// remember records the fields obj, the API server's answer to an apply, says FieldManager owns.
func (o *ownership) remember(obj metav1.Object) {
	if sum, ok := ownedFields(obj); ok {
		o.fields.Store(obj.GetUID(), sum)
	} else {
		o.fields.Delete(obj.GetUID())
	}
}

// unchanged reports whether FieldManager still owns in obj exactly the fields its last apply left it.
func (o *ownership) unchanged(obj metav1.Object) bool {
	want, ok := o.fields.Load(obj.GetUID())
	got, found := ownedFields(obj)
	return ok && found && want.([sha256.Size]byte) == got
}

// forget drops what is remembered of a deleted object.
func (o *ownership) forget(uid types.UID) { o.fields.Delete(uid) }

func ownedFields(obj metav1.Object) ([sha256.Size]byte, bool) {
	for _, e := range obj.GetManagedFields() {
		if e.Manager == FieldManager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" && e.FieldsV1 != nil {
			return sha256.Sum256(e.FieldsV1.GetRawBytes()), true
		}
	}
	return [sha256.Size]byte{}, false
}

// writeBack writes the revert of an aborted rollout to Git and records the outcome in st.
func (r *Reconciler) writeBack(ctx context.Context, md *v1alpha1.ModelDeployment, st *v1alpha1.ModelDeploymentStatus) error {
	cond := metav1.Condition{Type: WriteBackCondition, ObservedGeneration: md.Generation}
	wb := md.Spec.GitWriteBack
	if wb == nil || r.Writer == nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, "Disabled",
			"spec.gitWriteBack is not set: roll back in Git with `marina rollback`, or the GitOps engine will apply the aborted version again"
		meta.SetStatusCondition(&st.Conditions, cond)
		return nil
	}
	var secret *corev1.Secret
	if wb.SecretRef != nil {
		secret = &corev1.Secret{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: md.Namespace, Name: wb.SecretRef.Name}, secret); err != nil {
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Pending", fmt.Sprintf("reading Secret %s: %v", wb.SecretRef.Name, err)
			meta.SetStatusCondition(&st.Conditions, cond)
			return err
		}
	}
	snapshot := md.DeepCopy()
	snapshot.Status = *st
	commit, err := r.Writer.WriteBack(ctx, snapshot, secret)
	if errors.Is(err, ErrNothingToWrite) {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, "NotWritten", err.Error()
		meta.SetStatusCondition(&st.Conditions, cond)
		r.Recorder.Eventf(md, nil, corev1.EventTypeWarning, "WriteBackRefused", "WriteBack", "%v", err)
		return nil
	}
	if err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Pending", "retrying: "+err.Error()
		meta.SetStatusCondition(&st.Conditions, cond)
		r.Recorder.Eventf(md, nil, corev1.EventTypeWarning, "WriteBackFailed", "WriteBack", "%v", err)
		return err
	}
	cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, "Written", "revert committed as "+commit
	meta.SetStatusCondition(&st.Conditions, cond)
	r.Recorder.Eventf(md, nil, corev1.EventTypeNormal, "WrittenBack", "WriteBack", "revert of %s committed as %s", st.CanaryVersion, commit)
	return nil
}
