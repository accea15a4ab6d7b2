// Package logtest is for tests that read what a server or a command logs while its goroutines still write: Buffer
// is a bytes.Buffer safe for concurrent writes and reads, with a text slog.Logger writing to it.
package logtest
