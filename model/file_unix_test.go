//go:build unix

package model

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadRegularFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("12345"), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	data, err := ReadRegularFile(good, 5)
	if err != nil || string(data) != "12345" {
		t.Fatalf("regular file: %q, %v", data, err)
	}
	for _, c := range []struct {
		path  string
		limit int64
		want  string
	}{
		{good, 4, "larger than the limit of 4 B"},
		{fifo, 1 << 20, "a named pipe"},
		{zero, 1 << 20, "a character device"},
		{"/dev/zero", 1 << 20, "a character device"},
		{dir, 1 << 20, "a directory"},
		{filepath.Join(dir, "missing"), 1 << 20, "no such file"},
	} {
		start := time.Now()
		_, err := ReadRegularFile(c.path, c.limit)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.path, err, c.want)
		}
		if c.want != "no such file" && c.want != "larger than the limit of 4 B" && !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: %v does not wrap ErrNotRegular", c.path, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", c.path, d) // a blocked open never returns at all
		}
	}
}
