package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
)

// output is a file being written: a temporary file beside its
// destination, created before any work so that an output that cannot be
// written fails at once, and renamed into place when complete, so that
// a failed run leaves nothing behind.
type output struct {
	f    *os.File
	path string
	stop func() // ends the removal on an interrupt
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
	// Signals are caught before the file exists, so that none falls
	// between its creation and the handler.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		signal.Stop(sig)
		return nil, fmt.Errorf("output %s: %w", path, err)
	}
	return &output{f: f, path: path, stop: removeOnSignal(sig, f.Name())}, nil
}

// removeOnSignal removes the file name and exits if a signal arrives on
// sig before the returned stop is called: a run stopped with Ctrl-C
// leaves no temporary file either.
func removeOnSignal(sig chan os.Signal, name string) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			os.Remove(name)
			fmt.Fprintf(os.Stderr, "edgetoon: %v\n", s)
			os.Exit(130)
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sig)
			close(done)
		})
	}
}

// Write writes to the temporary file.
func (o *output) Write(p []byte) (int, error) { return o.f.Write(p) }

// commit closes the temporary file and renames it to the destination.
func (o *output) commit() error {
	defer o.stop()
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
	o.stop()
	o.f.Close()
	os.Remove(o.f.Name())
}
