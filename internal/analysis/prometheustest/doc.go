// Package prometheustest runs a real Prometheus server for tests: on a free loopback port, with temporary storage,
// scraping the given targets every second. A test can stop it and start it again on the same port and storage, as
// an outage would, and waits for the data it needs before measuring.
package prometheustest
