//go:build !unix

package server

// openFileLimit is 0, unknown, where there is no descriptor limit to read.
func openFileLimit() int { return 0 }
