// Package router is marina's data plane: a reverse proxy in front of the versions of one model that splits traffic
// by weight (sticky by header or cookie, pinned per request with X-Marina-Version), mirrors a share of requests to a
// shadow version through a bounded queue that never delays the primary, compares the shadow's answers with the
// primary's (Open Inference Protocol v2 and KServe v1 JSON) and exports all of it as Prometheus metrics.
//
// Config describes one router (local mode reads it from a YAML file, see Load). New builds a Router; Reload swaps
// its configuration atomically while requests keep flowing; Serve runs it until its context ends, then drains.
//
// The data path is valyala/fasthttp's HTTP/1.1 server and, per upstream address, its HostClient: a request is read,
// forwarded and answered on its connection's one goroutine, bodies of up to 8 KiB read with the headers and larger
// ones streamed both ways (a request body is kept whole only when the shadow needs it). HTTP/2 connections (prior
// knowledge) are handed to net/http's server, and the metrics, health and status endpoints stay on net/http.
package router
