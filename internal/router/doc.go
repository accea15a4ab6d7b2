// Package router is marina's data plane: a reverse proxy in front of the versions of one model that splits traffic
// by weight (sticky by header or cookie, pinned per request with X-Marina-Version), mirrors a share of requests to a
// shadow version through a bounded queue that never delays the primary, compares the shadow's answers with the
// primary's (Open Inference Protocol v2 and KServe v1 JSON) and exports all of it as Prometheus metrics.
//
// Config describes one router (local mode reads it from a YAML file, see Load). New builds a Router; Reload swaps
// its configuration atomically while requests keep flowing; Serve runs it until its context ends, then drains.
package router
