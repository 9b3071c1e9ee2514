//go:build !js

package browsertest

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

// TestImageInput: a picture given to the engine, stored once by the
// plan's first pass (the default) or resampled and normalized in every
// fetch (the page global edgetoonInlineInput), shows on the canvas what
// the CPU engine computes from the same pixels, for the shipped student
// and White-box, in fp32 and fp16. Both end in the guided filter, whose
// variance (a difference of means of the input) is where a stored fp16
// input would show first.
func TestImageInput(t *testing.T) {
	student, err := model.ReadFile(filepath.Join(repoRoot(), "web", "models", "student.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, engineJS); err != nil {
		t.Fatal(err)
	}
	const size = 256
	px, rgba := opaqueFixture(t, "obama.jpg", size)
	pu := p.srv.put(rgba)
	for _, tc := range []struct {
		name string
		g    func(*testing.T) *model.Graph
	}{
		{"student", func(*testing.T) *model.Graph { return student }},
		{"whitebox", func(t *testing.T) *model.Graph { return whiteboxModel(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g(t)
			y, err := cpu.Run(g, normalize(g, px))
			if err != nil {
				t.Fatal(err)
			}
			want := denormalize(g, y)
			data, err := model.Encode(g, "F32")
			if err != nil {
				t.Fatal(err)
			}
			mu := p.srv.put(data)
			for _, prec := range []string{"fp32", "fp16"} {
				var canvases [2][]float32
				for i, v := range []struct{ what, global string }{
					{"input pass", ""},
					{"input inlined", "edgetoonInlineInput"},
				} {
					pin, unpin := "", ""
					if v.global != "" {
						pin, unpin = "globalThis."+v.global+" = true;", "delete globalThis."+v.global
					}
					post, id := p.srv.slot()
					js := fmt.Sprintf("%s stylizeTwice(%q, %q, %d, %d, %q, '', %q, false).finally(() => { %s })",
						pin, mu, pu, size, size, post, prec, unpin)
					if _, err := eval[string](p.ctx, js); err != nil {
						t.Fatal(err)
					}
					canvases[i] = canvasRGB(p.srv.get(id))
					db := psnr(canvases[i], want)
					t.Logf("%s %s: canvas vs CPU: PSNR %.2f dB", prec, v.what, db)
					// The canvas holds 8-bit pixels (their rounding alone
					// is 58.9 dB); fp16 stores 11 significant bits.
					if db < 40 {
						t.Errorf("%s %s: canvas vs CPU: PSNR %.2f dB < 40 dB", prec, v.what, db)
					}
				}
				if prec == "fp32" {
					if db := psnr(canvases[0], canvases[1]); db < 45 {
						t.Errorf("fp32: input pass vs inlined input: PSNR %.1f dB < 45 dB", db)
					}
				}
			}
		})
	}
}
