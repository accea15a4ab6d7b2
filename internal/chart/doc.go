// Package chart draws time series as SVG on the server, for marina ui's shadow page: the agreement of a shadow
// with the live version, the differences of their outputs and of their latencies over a rollout.
//
// The SVG is written with html/template, so every name and label is escaped, and it styles nothing inline (no
// style attribute or element): the page's stylesheet colours the classes it sets, which a Content-Security-Policy
// without 'unsafe-inline' allows.
package chart
