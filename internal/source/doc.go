// Package source locates marina's source tree and the cache its hack/ scripts build into: where marina sandbox
// and internal/testenv find what they build and run. It imports nothing heavy, so the marina binary may use it.
package source
