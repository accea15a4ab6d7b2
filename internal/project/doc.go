// Package project holds the two files users edit in a model repository:
// marina.yaml (Project) and applications/<model>/model.yaml (ModelApplication).
package project
