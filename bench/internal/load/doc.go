// Package load drives a function closed-loop or at a fixed rate for a bounded time and measures its throughput and
// latency: the core of the load generators of bench/router and bench/serve, which differ only in what one call does.
package load
