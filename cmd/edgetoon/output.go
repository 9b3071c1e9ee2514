package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// output is a file being written: a temporary file beside its
// destination, created before any work so that an output that cannot be
// written fails at once, and renamed into place when complete, so that
// a failed run leaves nothing behind.
type output struct {
	f    *os.File
	path string
}

// createOutput checks that path can be written (its directory exists
// and is writable, path is not a directory) and opens the temporary
// file.
func createOutput(path string) (*output, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("output %s: exists and is not a regular file", path)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("output %s: %w", path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("output %s: %s is not a directory", path, dir)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", path, err)
	}
	return &output{f: f, path: path}, nil
}

// Write writes to the temporary file.
func (o *output) Write(p []byte) (int, error) { return o.f.Write(p) }

// commit closes the temporary file and renames it to the destination.
func (o *output) commit() error {
	err := o.f.Close()
	if err == nil {
		err = os.Chmod(o.f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(o.f.Name(), o.path)
	}
	if err != nil {
		os.Remove(o.f.Name())
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return nil
}

// abort removes the temporary file; after commit it does nothing.
func (o *output) abort() {
	o.f.Close()
	os.Remove(o.f.Name())
}
