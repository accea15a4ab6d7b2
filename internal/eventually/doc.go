// Package eventually is the one way marina's tests and test harnesses wait for a condition: poll it until it holds,
// fails, or time runs out.
package eventually
