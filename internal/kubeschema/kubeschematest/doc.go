// Package kubeschematest finds the third-party CRDs that hack/crds.sh caches, for tests.
package kubeschematest
