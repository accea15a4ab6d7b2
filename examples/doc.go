// Package examples holds the example model repository (ml-platform/) and the tests
// that keep it true to what marina init, register and promote write.
package examples
