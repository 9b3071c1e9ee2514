//go:build !js

package browsertest

import (
	"cmp"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/model"
)

// planVariants are the planner's choices BenchmarkPlans compares: the
// engine's default, and each with the page global that pins it otherwise
// (wasm/engine.go reads them when it opens its context); and the default
// given a source 2.5x the output's side, as a camera frame is, which the
// input pass filters over each pixel's footprint (kernels/footprint.glsl).
var planVariants = []struct {
	name, global string
	src          int // the source's side; 0: the output's
}{
	{"default", "", 0},
	{"six-pass guided filter", "edgetoonSplitGuided", 0},
	{"input inlined in every fetch", "edgetoonInlineInput", 0},
	{"every weight in the texture", "edgetoonUnbaked", 0},
	{"every conv direct (no Winograd)", "edgetoonDirect", 0},
	{"baked convs' fragments up to 512 products", "edgetoonBakedPixelTerms=512", 0},
	{"baked convs' fragments up to 1,024 products", "edgetoonBakedPixelTerms=1024", 0},
	{"a 640x640 source", "", 640},
}

// BenchmarkPlans times the shipped student and White-box at 256x256 fp32
// in each plan variant, frames interleaved in rounds in one page so that
// the machine's drift hits every variant alike; -v prints every round.
func BenchmarkPlans(b *testing.B) {
	student := studentModel(b)
	b.Run("student", func(b *testing.B) { benchPlans(b, student) })
	b.Run("whitebox", func(b *testing.B) { benchPlans(b, benchModel(b)) })
}

func benchPlans(b *testing.B, g *model.Graph) {
	p := newPage(b)
	if _, err := eval[chromedp.Void](p.ctx, benchJS); err != nil {
		b.Fatal(err)
	}
	data, err := model.Encode(g, "F16")
	if err != nil {
		b.Fatal(err)
	}
	const size = 256
	mu := p.srv.put(data)
	for i, v := range planVariants {
		src := cmp.Or(v.src, size)
		pu := p.srv.put(fixtureRGBA(b, src))
		// No warm-up: every variant's frames run its own layout from the first.
		pin, unpin := pinGlobals("edgetoonNoWarmup", v.global)
		js := fmt.Sprintf("%s benchCreate('plan%d', %q, 'fp32', %q, %d, %d, %d, %d).finally(() => { %s })",
			pin, i, mu, pu, size, size, src, src, unpin)
		if _, err := eval[string](p.ctx, js); err != nil {
			b.Fatal(err)
		}
		defer eval[chromedp.Void](p.ctx, fmt.Sprintf("benchDispose('plan%d')", i))
		// The first frame compiles the programs where the driver
		// compiles at the first draw (SwiftShader).
		f := timedFrame(b, p, fmt.Sprintf("plan%d", i))
		b.Logf("%s: first frame %.0f ms", v.name, f.Ms)
	}
	ms := make([][]float64, len(planVariants))
	for round := range max(b.N, 5) {
		for i, v := range planVariants {
			f := timedFrame(b, p, fmt.Sprintf("plan%d", i))
			ms[i] = append(ms[i], f.Ms)
			b.Logf("round %d: %s: %.0f ms, %v passes", round, v.name, f.Ms, f.Info["passes"])
		}
	}
	base := median(ms[0])
	for i, v := range planVariants {
		med := median(ms[i])
		b.Logf("%s: %.0f ms/frame (median of %d), %.3fx the default's time", v.name, med, len(ms[i]), med/base)
	}
}
