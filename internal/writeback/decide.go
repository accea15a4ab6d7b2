package writeback

import (
	"errors"
	"fmt"
)

// ErrSuperseded means the environment runs neither the aborted nor the stable
// version any more: someone promoted another version meanwhile, and the write-back
// does not overwrite that decision.
var ErrSuperseded = errors.New("superseded")

// action is what a write-back does to a branch.
type action int

const (
	// rollBack sets the environment back to the stable version and blocks the bad one.
	rollBack action = iota
	// blockOnly blocks the bad version: the environment is already back on the stable one.
	blockOnly
	// noOp leaves the branch alone: it already holds the revert.
	noOp
)

// observed is what a branch says about the rollout's model.
type observed struct {
	// envVersion is the environment's version in model.yaml, "" when it has none.
	envVersion string
	// badBlocked is true when the bad version's metadata is blocked.
	badBlocked bool
}

// decide chooses the action for req on a branch in the state obs.
func decide(req Request, obs observed) (action, error) {
	switch {
	case obs.envVersion == req.BadVersion:
		return rollBack, nil
	case obs.envVersion == req.StableVersion && obs.badBlocked:
		return noOp, nil
	case obs.envVersion == req.StableVersion:
		return blockOnly, nil
	}
	runs := "no version"
	if obs.envVersion != "" {
		runs = obs.envVersion
	}
	return 0, fmt.Errorf("%w: %s in %s runs %s in Git, neither the aborted %s nor the stable %s; leaving it as it is",
		ErrSuperseded, req.Model, req.Env, runs, req.BadVersion, req.StableVersion)
}
