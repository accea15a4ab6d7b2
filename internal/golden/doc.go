// Package golden compares test output with committed files under testdata/, and
// rewrites them when the tests run with -update.
package golden
