// Package prereq decides what a test does when something it runs against is missing (a control-plane binary,
// ONNX Runtime, Prometheus, cached CRDs, git http-backend): skip with a hint on a developer's machine, fail where
// the run promised to have it.
//
// A run promises it with CI=true, or with MARINA_REQUIRE_ASSETS=1, which `make test` and `make e2e` export after
// installing what their tests use: a test that would skip for lack of something the make target just installed is
// a bug, not a pass.
package prereq
