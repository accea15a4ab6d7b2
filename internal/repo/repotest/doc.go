// Package repotest makes real Git model repositories in temporary directories for tests.
package repotest
