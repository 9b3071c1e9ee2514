package web_test

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/latency"
	"github.com/edgetoon/edgetoon/web"
)

// TestProfileCatalogueSizes checks the block counts the /profile page
// shows against the catalogues the engine runs.
func TestProfileCatalogueSizes(t *testing.T) {
	page, err := fs.ReadFile(web.FS, "profile.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		value string
		n     int
	}{{"full", len(latency.FullCatalog())}, {"reduced", len(latency.ReducedCatalog())}} {
		want := fmt.Sprintf(`<option value="%s"`, c.value)
		i := strings.Index(string(page), want)
		if i < 0 {
			t.Fatalf("no %s option", c.value)
		}
		option := string(page[i:])
		option = option[:strings.Index(option, "</option>")]
		if count := fmt.Sprintf("(%s blocks)", thousands(c.n)); !strings.Contains(option, count) {
			t.Errorf("option %q: want it to say %s", option, count)
		}
	}
}

// thousands formats n with a comma every three digits, as the page does.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
