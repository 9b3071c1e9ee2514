package latency

import (
	"strings"
	"testing"
)

// TestReadModelProfileRejects: a profile of another schema, without
// passes, with a timing that is not positive or has no samples, or with
// an unknown field is an error; a minimal valid one is not.
func TestReadModelProfileRejects(t *testing.T) {
	for _, s := range []string{
		`{"schema": "other", "passes": [{"median_ms": 1, "reps": 1}], "frame": {"median_ms": 1, "reps": 1}}`,
		`{"schema": "edgetoon-model-profile/1", "passes": [], "frame": {"median_ms": 1, "reps": 1}}`,
		`{"schema": "edgetoon-model-profile/1", "passes": [{"median_ms": 0, "reps": 1}], "frame": {"median_ms": 1, "reps": 1}}`,
		`{"schema": "edgetoon-model-profile/1", "passes": [{"median_ms": 1, "reps": 1}], "frame": {"median_ms": 1, "reps": 0}}`,
		`{"schema": "edgetoon-model-profile/1", "passes": [{"median_ms": 1, "reps": 1}], "frame": {"median_ms": 1, "reps": 1}, "extra": 1}`,
	} {
		if _, err := ReadModelProfile(strings.NewReader(s)); err == nil {
			t.Errorf("%s: no error", s)
		}
	}
	ok := `{"schema": "edgetoon-model-profile/1", "passes": [{"median_ms": 1, "reps": 1}], "frame": {"median_ms": 1, "reps": 1}}`
	if _, err := ReadModelProfile(strings.NewReader(ok)); err != nil {
		t.Errorf("a valid profile: %v", err)
	}
}
