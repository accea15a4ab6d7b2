package cli

// SetChecked makes serve call f with the model file between its checks and loading, for the test that replaces
// the file there; it returns what undoes it.
func SetChecked(f func(file string)) (restore func()) {
	checked = f
	return func() { checked = nil }
}

// PromoteBranch is the branch promote --pr pushes without --branch.
var PromoteBranch = promoteBranch

// ParsePromoteSubject reads a promotion commit's subject.
var ParsePromoteSubject = parsePromoteSubject
