package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestProductDeps checks that the product's CLI links only the product:
// no browser driver (chromedp, which the lab's profiler uses) and no test
// code (package testing, which test helpers import).
func TestProductDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/edgetoon/edgetoon/cmd/edgetoon").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "github.com/edgetoon/edgetoon/server") {
		t.Fatalf("go list -deps gave %d packages without the server: %q", len(deps), out)
	}
	for _, p := range deps {
		if p == "testing" || strings.HasPrefix(p, "testing/") || strings.HasPrefix(p, "github.com/chromedp/") {
			t.Errorf("cmd/edgetoon links %s", p)
		}
	}
}

// TestShippedWASM builds the engine as make wasm does and checks that it
// holds none of the lab's entry points, whose names the lab build
// (-tags lab) does hold: the names are the JS properties the Go program
// sets, so a linked profiler or test hook carries its name as a string.
func TestShippedWASM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the engine twice")
	}
	names := []string{"debugRun", "debugMallocs", "profileNetworks", "profileModel"}
	for _, tags := range []string{"", "lab"} {
		out := filepath.Join(t.TempDir(), "edgetoon.wasm")
		cmd := exec.Command("go", "build", "-tags", tags, "-trimpath", "-ldflags=-s -w", "-o", out, "github.com/edgetoon/edgetoon/wasm")
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build with tags %q: %v\n%s", tags, err, msg)
		}
		bin, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if has := bytes.Contains(bin, []byte(name)); has != (tags == "lab") {
				t.Errorf("build with tags %q: holds %q: %v", tags, name, has)
			}
		}
	}
}
