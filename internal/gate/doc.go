// Package gate checks a model version's recorded metrics against the quality gates
// of marina.yaml. validate and ci both judge versions with it.
package gate
