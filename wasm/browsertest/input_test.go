//go:build !js

package browsertest

import (
	"encoding/json"
	"fmt"
	"image"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/edgetoon/edgetoon/internal/photo"
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
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, engineJS); err != nil {
		t.Fatal(err)
	}
	const size = 256
	px, rgba := opaqueFixture(t, "obama.jpg", size)
	pu := p.srv.put(rgba)
	for _, tc := range shippedModels {
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
					pin, unpin := pinGlobals(v.global)
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

// TestShrunkInput: a picture larger than the plan (a camera frame: 320x240
// and 400x300 at 128x96, 2.5 and 3.125 of its pixels per output pixel) is
// filtered over each output pixel's footprint as photo.Sample does it, not
// point-sampled: the canvas shows what the CPU engine computes from
// photo.Sample's pixels, in fp32, with the input pass and inlined.
func TestShrunkInput(t *testing.T) {
	student := studentModel(t)
	data, err := model.Encode(student, "F32")
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, engineJS+`
async function stylizeShrunk(model, px, sw, sh, w, h, out) {
  const eng = await edgetoon.create({canvas: document.getElementById("out"), model, precision: "fp32"});
  eng.stylize(await rgbaCanvas(px, sw, sh), w, h);
  await readCanvas(document.getElementById("out"), out);
  eng.dispose();
  return "ok";
}`); err != nil {
		t.Fatal(err)
	}
	mu := p.srv.put(data)
	const w, h = 128, 96
	for _, src := range [][2]int{{320, 240}, {400, 300}} {
		_, rgba := opaqueFixtureSized(t, "obama.jpg", src[0], src[1])
		img := &image.NRGBA{Pix: rgba, Stride: 4 * src[0], Rect: image.Rect(0, 0, src[0], src[1])}
		y, err := cpu.Run(student, normalize(student, photo.Sample(img, w, h)))
		if err != nil {
			t.Fatal(err)
		}
		want := denormalize(student, y)
		for _, global := range []string{"", "edgetoonInlineInput"} {
			pin, unpin := pinGlobals(global)
			post, id := p.srv.slot()
			js := fmt.Sprintf("%s stylizeShrunk(%q, %q, %d, %d, %d, %d, %q).finally(() => { %s })",
				pin, mu, p.srv.put(rgba), src[0], src[1], w, h, post, unpin)
			if _, err := eval[string](p.ctx, js); err != nil {
				t.Fatal(err)
			}
			db := psnr(canvasRGB(p.srv.get(id)), want)
			t.Logf("%dx%d at %dx%d %s: canvas vs CPU: PSNR %.2f dB", src[0], src[1], w, h, global, db)
			if db < 40 {
				t.Errorf("%dx%d at %dx%d %s: canvas vs CPU: PSNR %.2f dB < 40 dB", src[0], src[1], w, h, global, db)
			}
		}
	}
}

// pinGlobals is the JS that sets each named page global to true before an
// engine opens its context (wasm/engine.go reads them there) and the JS
// that deletes them after; empty names are skipped.
func pinGlobals(names ...string) (pin, unpin string) {
	for _, n := range names {
		if n != "" {
			n, v, ok := strings.Cut(n, "=")
			if !ok {
				v = "true"
			}
			pin += "globalThis." + n + " = " + v + ";"
			unpin += "delete globalThis." + n + ";"
		}
	}
	return pin, unpin
}

// pin sets the page globals names to true for the rest of test t.
func (p *page) pin(t *testing.T, names ...string) {
	t.Helper()
	pin, unpin := pinGlobals(names...)
	if _, err := eval[chromedp.Void](p.ctx, pin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eval[chromedp.Void](p.ctx, unpin) })
}

// TestPaddedInput: a picture whose sides are not multiples of the
// model's is stylized at its own size, padded as the CLI pads a photo
// (photo.Pad: its last row and column repeated): the canvas is the
// picture's size and shows what the CPU engine computes from the padded
// picture, cropped back, for the shipped student and White-box, with the
// input pass and inlined. A second size padded to the same plan size
// checks that the plan follows the picture's size, not the padded one; a
// third, 3x1, the least picture there is in a plan of its own.
func TestPaddedInput(t *testing.T) {
	p := newPage(t)
	if _, err := eval[chromedp.Void](p.ctx, engineJS+`
async function stylizePadded(model, px, sw, sh, sizes, outs) {
  const canvas = document.getElementById("out");
  const eng = await edgetoon.create({canvas, model, precision: "fp32"});
  const src = await rgbaCanvas(px, sw, sh);
  for (let i = 0; i < sizes.length; i++) {
    const err = eng.stylize(src, sizes[i][0], sizes[i][1]);
    if (err) throw err;
    await readCanvas(canvas, outs[i]);
  }
  eng.dispose();
  return "ok";
}`); err != nil {
		t.Fatal(err)
	}
	const sw, sh = 300, 217
	_, rgba := opaqueFixtureSized(t, "obama.jpg", sw, sh)
	img := &image.NRGBA{Pix: rgba, Stride: 4 * sw, Rect: image.Rect(0, 0, sw, sh)}
	pu := p.srv.put(rgba)
	sizes := [][2]int{{125, 90}, {126, 91}, {3, 1}}
	for _, tc := range shippedModels {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g(t)
			m := max(g.SizeMultiple, 1)
			var wants [][]float32
			for _, s := range sizes {
				w, h := s[0], s[1]
				if w%m == 0 && h%m == 0 {
					t.Fatalf("%dx%d is a multiple of %d: nothing to pad", w, h, m)
				}
				pw, ph := (w+m-1)/m*m, (h+m-1)/m*m
				y, err := cpu.Run(g, normalize(g, photo.Pad(photo.Sample(img, w, h), pw, ph)))
				if err != nil {
					t.Fatal(err)
				}
				wants = append(wants, denormalize(g, photo.Crop(y, w, h)))
			}
			data, err := model.Encode(g, "F32")
			if err != nil {
				t.Fatal(err)
			}
			mu := p.srv.put(data)
			for _, global := range []string{"", "edgetoonInlineInput"} {
				pin, unpin := pinGlobals(global)
				var posts []string
				var ids []string
				for range sizes {
					post, id := p.srv.slot()
					posts, ids = append(posts, post), append(ids, id)
				}
				js := fmt.Sprintf("%s stylizePadded(%q, %q, %d, %d, %s, %s).finally(() => { %s })",
					pin, mu, pu, sw, sh, jsonOf(sizes), jsonOf(posts), unpin)
				if _, err := eval[string](p.ctx, js); err != nil {
					t.Fatal(err)
				}
				for i, s := range sizes {
					got := p.srv.get(ids[i])
					if len(got) != 4*s[0]*s[1] {
						t.Errorf("%dx%d %s: canvas of %d pixels, want %d", s[0], s[1], global, len(got)/4, s[0]*s[1])
						continue
					}
					db := psnr(canvasRGB(got), wants[i])
					t.Logf("%dx%d %s: canvas vs CPU on the padded picture: PSNR %.2f dB", s[0], s[1], global, db)
					if db < 40 {
						t.Errorf("%dx%d %s: canvas vs CPU on the padded picture: PSNR %.2f dB < 40 dB", s[0], s[1], global, db)
					}
				}
			}
		})
	}
}

// jsonOf spells v as a JS literal.
func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
