//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests below run the built command as a child process and read
// its peak resident memory from the kernel (rusage), the figure the
// budget is about. Go starts a child with vfork, sharing the test
// process's memory until the exec, and Linux then counts that memory's
// high-water mark as the child's: ru_maxrss would report the test
// process. So the command is started by a small spawner (this test
// binary run again, before any test has grown it), whose own rusage of
// its child is clean.

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// spawnEnv marks the test binary's run as the spawner.
const spawnEnv = "EDGETOON_TEST_SPAWN"

func TestMain(m *testing.M) {
	if os.Getenv(spawnEnv) != "" {
		os.Exit(spawn(os.Args[1:]))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// spawn runs args with the spawner's stdout and stderr, then writes the
// child's peak RSS as the last line of stderr and exits with its status.
func spawn(args []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Run()
	if cmd.ProcessState == nil {
		return 125
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		fmt.Fprintf(os.Stderr, "\n%s%d\n", maxrssLine, ru.Maxrss) // KiB on Linux
	}
	return cmd.ProcessState.ExitCode()
}

const maxrssLine = "spawn maxrss KiB: "

// edgetoonBinary builds the command once for all the tests that run it.
func edgetoonBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "edgetoon-cli-test")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "edgetoon")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err, out}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.out) }

// result is one run of the command.
type result struct {
	err    error
	stderr string
	rssMiB int64 // peak resident set size
	took   time.Duration
}

// run runs the command with args through the spawner, killing it after
// a minute: a run that blocks (a FIFO, a device read forever) fails the
// test instead of hanging it.
func run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{edgetoonBinary(t)}, args...)...)
	cmd.Env = append(os.Environ(), spawnEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{err: err, took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("edgetoon %s: still running after a minute (killed)", strings.Join(args, " "))
	}
	text, rss, ok := strings.Cut(stderr.String(), "\n"+maxrssLine)
	if !ok {
		t.Fatalf("edgetoon %s: the spawner reported no peak RSS:\n%s", strings.Join(args, " "), stderr.String())
	}
	kib, _ := strconv.ParseInt(strings.TrimSpace(rss), 10, 64)
	r.stderr, r.rssMiB = text, kib>>10
	t.Logf("edgetoon %s: %v, peak RSS %d MiB, %v\n%s", strings.Join(args, " "), err, r.rssMiB, r.took.Round(time.Millisecond), r.stderr)
	return r
}

// refused checks that a run failed with an error containing each of
// want, within budgetMiB of memory.
func (r result) refused(t *testing.T, budgetMiB int64, want ...string) {
	t.Helper()
	if r.err == nil {
		t.Errorf("succeeded, want an error saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("error %q does not say %q", strings.TrimSpace(r.stderr), w)
		}
	}
	if r.rssMiB > budgetMiB {
		t.Errorf("peak RSS %d MiB, over the %d MiB budget", r.rssMiB, budgetMiB)
	}
}
