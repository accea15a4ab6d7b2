//go:build !cgo

package inference

// Without cgo there is no way to call into libonnxruntime: every entry point ends at ErrNotInBuild.

func initialize(string) error { return ErrNotInBuild }

func runtimeVersion() string { return "" }

func open(string, []byte) (*Session, error) { return nil, ErrNotInBuild }
