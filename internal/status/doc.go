// Package status reads one model repository into rows of models × environments: the version each environment's
// model.yaml names, its registry state, the last change of that environment from Git history and the model's
// blocked versions; and, given a cluster, what runs there for each row and whether it is in sync with Git. marina
// status prints the rows, marina ui renders them.
package status
