//go:build unix

package server

import "syscall"

// openFileLimit is the process's soft limit on open files (which the Go
// runtime has raised to the hard limit at startup), or 0 if unknown.
func openFileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return int(min(r.Cur, 1<<30))
}
