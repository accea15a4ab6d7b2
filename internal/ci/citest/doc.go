// Package citest builds the model repositories the ci tests run on: a copy of examples/ml-platform made clean
// (images pinned by digest, every gate metric recorded, rendered output up to date) and committed on main.
package citest
