// Package release moves model versions between environments through Git:
// promote, rollback and the deployment history read back from commits.
package release
