// Package tbtest is for the tests of test helpers (golden, browsertest): Failures runs a helper against a testing.TB
// that records its failures instead of failing the test, so that a check that must fail can be asserted on.
package tbtest
