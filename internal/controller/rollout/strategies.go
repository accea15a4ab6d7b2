package rollout

import (
	"fmt"
	"time"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// DefaultScaleDownDelay is how long blue-green keeps the old version after the switch, for a quick switch back.
const DefaultScaleDownDelay = 30 * time.Second

// gpuRetry is how soon a rollout held back by the GPU quota looks again: the stable pods it scaled down free
// their GPUs within seconds.
const gpuRetry = 2 * time.Second

// shadowSteps is the status step index of a shadow's first canary step: 0 brings the shadow up, 1 mirrors and
// judges it.
const shadowSteps = 2

// canary walks the steps, the first of which is status step first (0 for a canary, shadowSteps after a shadow);
// after the last one the canary takes all replicas and becomes stable.
func (d *decider) canary(steps []v1alpha1.CanaryStep, first int32) {
	total := d.total()
	for {
		at := *d.st.CurrentStepIndex
		i := int(at - first)
		if i >= len(steps) {
			// placeAndWait looks again soon while the GPU quota holds the canary back: nothing it watches
			// changes when the quota frees up.
			if d.placeAndWait(total) {
				d.promote()
			}
			return
		}
		step := steps[i]
		switch {
		case step.SetWeight != nil:
			w := *step.SetWeight
			d.st.Weights = &v1alpha1.TrafficWeights{Stable: 100 - w, Canary: w}
			if !d.placeAndWait(ceilPercent(total, w)) {
				return
			}
			d.advance()
		case step.Pause != nil:
			d.place(ceilPercent(total, d.st.Weights.Canary))
			if !d.pause(duration(step.Pause.Duration), fmt.Sprintf("step %d: pause", at)) {
				return
			}
			d.advance()
		case step.Analysis != nil:
			d.place(ceilPercent(total, d.st.Weights.Canary))
			if !d.analyze(step.Analysis.Template, fmt.Sprintf("step %d", at)) {
				return
			}
			d.advance()
		default:
			d.advance() // the CRD's CEL rule makes every step set exactly one field
		}
	}
}

// blueGreen brings the new version up at full size without traffic (the preview), switches all traffic to it
// when it is ready (at once with autoPromote, else on resume) and keeps the old version for the scale-down delay.
func (d *decider) blueGreen(bg *v1alpha1.BlueGreenStrategy) {
	total, v := d.total(), d.st.CanaryVersion
	d.replicas[d.st.StableVersion] = total
	if *d.st.CurrentStepIndex == 0 {
		d.st.Weights = &v1alpha1.TrafficWeights{Stable: 100}
		if !d.placeExtra(v, total) || !d.waitReady(v, total) {
			return
		}
		if !bg.AutoPromote {
			if !d.o.Resume {
				d.rolling(ReasonPaused, fmt.Sprintf("preview of %s is ready and receives no traffic: resume to switch", v))
				return
			}
			d.consumeResume = true
		}
		d.event(false, "Switched", fmt.Sprintf("all traffic to %s", v))
		d.advance()
	}
	d.replicas[v] = total
	d.st.Weights = &v1alpha1.TrafficWeights{Canary: 100}
	delay := duration(bg.ScaleDownDelay)
	if delay == 0 {
		delay = DefaultScaleDownDelay
	}
	if left := delay - d.elapsed(); left > 0 {
		d.rolling(ReasonProgressing, fmt.Sprintf("switched to %s; %s is scaled down in %s", v, d.st.StableVersion, left.Round(time.Second)))
		d.requeueIn(left)
		return
	}
	d.promote()
}

// shadow mirrors a percentage of requests to the new version (sized for that share) for the duration, judged by
// the first analysis template when there is one. Then the mirror stops and the new version takes live traffic
// through the shadow's canary steps, as a canary's; without steps it goes to full size and becomes stable at once.
func (d *decider) shadow(sh *v1alpha1.ShadowStrategy) {
	total, v := d.total(), d.st.CanaryVersion
	d.replicas[d.st.StableVersion] = total
	n := ceilPercent(total, sh.Percent)
	switch *d.st.CurrentStepIndex {
	case 0: // bring the shadow up
		d.st.Weights = &v1alpha1.TrafficWeights{Stable: 100}
		if !d.placeExtra(v, n) || !d.waitReady(v, n) {
			return
		}
		d.advance()
		fallthrough
	case 1: // mirror and judge
		d.replicas[v] = n
		d.st.Weights = &v1alpha1.TrafficWeights{Stable: 100, Shadow: sh.Percent}
		tmpl := ""
		if a := d.md.Spec.Analysis; a != nil && len(a.Templates) > 0 {
			tmpl = a.Templates[0].Name
		}
		left := duration(sh.Duration) - d.elapsed()
		if tmpl != "" && !d.analyze(tmpl, "shadow") {
			if left > 0 && d.analysis != "" {
				d.requeueIn(left)
			}
			return
		}
		if left > 0 {
			d.rolling(ReasonProgressing, fmt.Sprintf("mirroring %d%% of requests to %s for %s more", sh.Percent, v, left.Round(time.Second)))
			d.requeueIn(left)
			return
		}
		d.advance()
		d.st.Weights = &v1alpha1.TrafficWeights{Stable: 100} // the mirror stops; the steps move live traffic
		fallthrough
	default: // the canary steps, then full size and stable
		d.canary(sh.Steps, shadowSteps)
	}
}

// pause waits for the duration, or for a resume when there is none. It reports whether the pause is over.
func (d *decider) pause(dur time.Duration, what string) bool {
	if dur > 0 {
		if left := dur - d.elapsed(); left > 0 {
			d.rolling(ReasonPaused, fmt.Sprintf("%s, %s left", what, left.Round(time.Second)))
			d.requeueIn(left)
			return false
		}
		return true
	}
	if d.o.Resume {
		d.consumeResume = true
		return true
	}
	d.rolling(ReasonPaused, what+" until resumed (marina promote MODEL --env ENV --resume)")
	return false
}

// analyze runs a template and reports whether it succeeded; a failure or an analysis that keeps erroring aborts,
// an inconclusive one pauses until resumed.
func (d *decider) analyze(tmpl, what string) bool {
	switch d.o.Analysis {
	case v1alpha1.AnalysisSuccessful:
		return true
	case v1alpha1.AnalysisFailed:
		d.abort(ReasonAborted, fmt.Sprintf("%s: analysis %s failed: %s", what, tmpl, d.o.AnalysisMessage))
	case v1alpha1.AnalysisError:
		d.abort(ReasonAborted, fmt.Sprintf("%s: analysis %s could not measure: %s", what, tmpl, d.o.AnalysisMessage))
	case v1alpha1.AnalysisInconclusive:
		if d.o.Resume {
			d.consumeResume = true
			return true
		}
		d.rolling(ReasonInconclusive, fmt.Sprintf("%s: analysis %s is inconclusive: %s; resume to go on, or roll back", what, tmpl, d.o.AnalysisMessage))
	default:
		d.analysis = tmpl
		if d.o.AnalysisErroring {
			d.rolling(ReasonAnalysisError, fmt.Sprintf("%s: analysis %s cannot measure, retrying (the rollout waits): %s", what, tmpl, d.o.AnalysisMessage))
			return false
		}
		msg := fmt.Sprintf("%s: running analysis %s", what, tmpl)
		if d.o.AnalysisMessage != "" {
			msg += ": " + d.o.AnalysisMessage
		}
		d.rolling(ReasonAnalysis, msg)
	}
	return false
}

// placeAndWait sets the canary to n replicas (GPU quota permitting) and reports whether all n are ready.
func (d *decider) placeAndWait(n int32) bool {
	if got := d.place(n); got < n {
		d.rolling(ReasonProgressing, fmt.Sprintf("waiting for GPU quota: %s has %d of %d replicas", d.st.CanaryVersion, got, n))
		d.requeueIn(gpuRetry)
		d.overdue(d.st.CanaryVersion, n)
		return false
	}
	return d.waitReady(d.st.CanaryVersion, n)
}

// place gives the canary n replicas and stable the rest of its size. A GPU model whose namespace quota has no
// room for the canary's extra pods scales stable down instead of surging: the canary then grows only by the GPUs
// the quota has free (freed by stable's pods as they go), so no pod is ever refused by the quota. It returns the
// canary's replicas.
func (d *decider) place(n int32) int32 {
	total, stable, v := d.total(), d.st.StableVersion, d.st.CanaryVersion
	d.replicas[stable], d.replicas[v] = total, n
	g := d.o.GPU
	if g.PerPod <= 0 || !g.Limited {
		return n
	}
	// What the model's pods hold now: a replica whose pod was refused holds nothing, and counting it would keep
	// stable from making the room it waits for.
	cur := held(d.o.Workloads[stable]) + held(d.o.Workloads[v])
	room := int32(g.Free / g.PerPod)
	if total+n > cur+room {
		d.replicas[stable] = max(total-n, 0)
	}
	d.replicas[v] = min(n, d.o.Workloads[v].Replicas+room)
	return d.replicas[v]
}

// held is the replicas of w that have a pod.
func held(w Workload) int32 { return max(w.Replicas-w.Refused, 0) }

// placeExtra gives version v n replicas beside a full stable (blue-green's preview, shadow), as far as the GPU
// quota allows, and reports whether it got them all; a shortfall waits for the deadline like unready pods.
func (d *decider) placeExtra(v string, n int32) bool {
	d.replicas[v] = n
	g := d.o.GPU
	if g.PerPod <= 0 || !g.Limited {
		return true
	}
	if allowed := d.o.Workloads[v].Replicas + int32(g.Free/g.PerPod); allowed < n {
		d.replicas[v] = allowed
		d.rolling(ReasonProgressing, fmt.Sprintf("the GPU quota allows %d of the %d replicas %s needs beside the stable version", allowed, n, v))
		d.requeueIn(gpuRetry)
		d.overdue(v, n)
		return false
	}
	return true
}

// duration is a spec duration; the CRD admits only valid ones, and anything else counts as unset.
func duration(s v1alpha1.DurationString) time.Duration {
	d, err := s.Duration()
	if err != nil {
		return 0
	}
	return d
}
