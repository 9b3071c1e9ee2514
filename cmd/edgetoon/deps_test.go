package main

import (
	"os/exec"
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
