//go:build unix

package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestModelDirNonRegular: files that are not regular in the model dir, a
// link to /dev/zero and a FIFO without a writer, are skipped at once
// with a log line naming them; the regular models are served.
func TestModelDirNonRegular(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "good.safetensors"), toyModel("good"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.safetensors"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling.safetensors")); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		logs []string
	)
	done := make(chan error, 1)
	go func() {
		_, err := New(Config{Assets: webFS(), ModelDir: dir, Inspect: inspect, Log: func(f string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			logs = append(logs, fmt.Sprintf(f, a...))
		}})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("New still reading the model dir after 30 s")
	}
	all := strings.Join(logs, "\n")
	for _, want := range []string{"zero.safetensors: not a regular file", "fifo.safetensors: not a regular file", "dangling.safetensors"} {
		if !strings.Contains(all, want) {
			t.Errorf("no log line with %q in:\n%s", want, all)
		}
	}
	s, _ := newServer(t, webFS(), dir)
	if r := get(t, s, "GET", "/models/good.safetensors"); r.StatusCode != 200 {
		t.Errorf("good model: %d", r.StatusCode)
	}
	for _, name := range []string{"zero", "fifo", "dangling"} {
		if r := get(t, s, "GET", "/models/"+name+".safetensors"); r.StatusCode != 404 {
			t.Errorf("%s: %d", name, r.StatusCode)
		}
	}
}
