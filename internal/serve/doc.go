// Package serve is marina's model server: the Open Inference Protocol (v2) REST API, with its binary tensor data
// extension, and KServe v1 :predict over an inference.Session, with health endpoints, Prometheus metrics, a bounded
// request body and a concurrency limit.
package serve
