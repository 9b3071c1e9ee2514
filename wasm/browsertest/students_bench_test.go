//go:build !js

package browsertest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/model"
)

// maxEngines is the most engines a benchmark keeps in one page: Chromium
// keeps 16 WebGL contexts a page and loses the oldest past that (its
// frames then cost nothing: benchFrame fails on it), and the peak probe
// holds one more.
const maxEngines = 14

// BenchmarkStudents times the teacher (White-box), the shipped students
// (web/models) and the earlier students they were grown from (train/init,
// the latest versions, up to maxEngines in all) at 256x256 fp32 in one
// page, one frame of each per round in turn, so that
// the machine's drift hits them alike; it reports each one's median and
// the teacher's time over each student's (-v prints every round), and
// each one's fraction of the peak probe's rate (peak_test.go: swept once
// before the rounds, its 3 fastest variants re-timed after them, the best
// of those is the peak).
func BenchmarkStudents(b *testing.B) {
	models := []struct {
		name string
		g    *model.Graph
	}{{"teacher", benchModel(b)}}
	shipped, err := filepath.Glob(filepath.Join(repoRoot(), "web", "models", "*.safetensors"))
	if err != nil || len(shipped) == 0 {
		b.Fatalf("no shipped models in web/models (%v)", err)
	}
	earlier, err := filepath.Glob(filepath.Join(repoRoot(), "train", "init", "*.safetensors"))
	if err != nil {
		b.Fatal(err)
	}
	// The latest versions first (student-vN by N; others after them).
	version := func(path string) int {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "student-v"), ".safetensors"))
		if err != nil {
			return -1
		}
		return n
	}
	slices.SortStableFunc(earlier, func(a, b string) int { return cmp.Compare(version(b), version(a)) })
	earlier = earlier[:max(0, min(len(earlier), maxEngines-1-len(shipped)))]
	paths := append(shipped, earlier...)
	for _, path := range paths {
		m := struct{ name, path string }{strings.TrimSuffix(filepath.Base(path), ".safetensors"), path}
		g, err := model.ReadFile(m.path)
		if err != nil {
			b.Fatal(err)
		}
		models = append(models, struct {
			name string
			g    *model.Graph
		}{m.name, g})
	}
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, benchJS); err != nil {
		b.Fatal(err)
	}
	_, sweep, err := p.peak(b)
	if err != nil {
		b.Fatal(err)
	}
	const size = 256
	pu := p.srv.put(fixtureRGBA(b, size))
	for _, m := range models {
		data, err := model.Encode(m.g, "F16")
		if err != nil {
			b.Fatal(err)
		}
		js := fmt.Sprintf("benchCreate(%q, %q, 'fp32', %q, %d, %d)", m.name, p.srv.put(data), pu, size, size)
		if _, err := eval[string](p.ctx, js); err != nil {
			b.Fatal(err)
		}
		defer eval[chromedp.Void](p.ctx, fmt.Sprintf("benchDispose(%q)", m.name))
		if _, err := eval[string](p.ctx, fmt.Sprintf("benchFrame(%q)", m.name)); err != nil { // warm-up
			b.Fatal(err)
		}
	}
	ms := map[string][]float64{}
	for round := range max(b.N, 3) {
		for _, m := range models {
			res, err := eval[string](p.ctx, fmt.Sprintf("benchFrame(%q)", m.name))
			if err != nil {
				b.Fatal(err)
			}
			var f struct{ Ms float64 }
			json.Unmarshal([]byte(res), &f)
			ms[m.name] = append(ms[m.name], f.Ms)
			b.Logf("round %d: %s %.0f ms", round, m.name, f.Ms)
		}
	}
	rs, err := p.timePeak(b, variants(sweep[:min(3, len(sweep))]))
	if err != nil {
		b.Fatal(err)
	}
	best, err := bestPeak(rs)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("peak after the rounds: %.2f GMAD/s (%s)", best.Rate/1e9, best.Variant)
	teacher := median(ms["teacher"])
	for _, m := range models {
		med := median(ms[m.name])
		macs, err := m.g.MACs(size, size)
		if err != nil {
			b.Fatal(err)
		}
		frac := 100 * float64(macs) / (med / 1000) / best.Rate
		b.Logf("%s: %.0f ms/frame (median of %d rounds), %.3f GMACs, %.1f%% of peak; the teacher takes %.2fx as long",
			m.name, med, len(ms[m.name]), float64(macs)/1e9, frac, teacher/med)
		b.ReportMetric(med, m.name+"-ms/frame")
		b.ReportMetric(frac, m.name+"-%peak")
	}
}
