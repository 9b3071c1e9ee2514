package main

import (
	"flag"
	"fmt"
	"image/png"
	"os"

	"github.com/edgetoon/edgetoon/internal/photo"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

const defaultModel = "web/dist/models/whitebox.safetensors"

func runStylize(args []string) error {
	fs := flag.NewFlagSet("stylize", flag.ContinueOnError)
	modelPath := fs.String("model", defaultModel, "model file")
	size := fs.Int("size", 0, "longer side of the network input in pixels (0: the photo's own, at most 1024)")
	out := fs.String("o", "", "output PNG file (required)")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 1 || *out == "" {
		return fmt.Errorf("usage: edgetoon stylize -model m.safetensors [-size N] in.jpg -o out.png")
	}
	g, err := model.ReadFile(*modelPath)
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	img, err := photo.Decode(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	b := img.Bounds()
	long := *size
	if long == 0 {
		long = min(max(b.Dx(), b.Dy()), 1024)
	}
	if long < g.SizeMultiple || long > 4096 {
		return fmt.Errorf("-size %d: want %d..4096", long, g.SizeMultiple)
	}
	fw, fh, pw, ph := photo.Fit(b.Dx(), b.Dy(), long, g.SizeMultiple)
	y, err := cpu.Run(g, photo.ToTensor(img, fw, fh, pw, ph, g.Norm))
	if err != nil {
		return err
	}
	result := photo.FromTensor(y, fw, fh, g.Denorm)
	w, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := png.Encode(w, result); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", *out, err)
	}
	return w.Close()
}

// reorder moves flags after positional arguments to the front, so that
// "stylize in.jpg -o out.png" works as the usage line says (package flag
// stops at the first non-flag).
func reorder(args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			if !containsEq(a) && i+1 < len(args) && !isBoolFlag(a) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		rest = append(rest, a)
	}
	return append(flags, rest...)
}

func containsEq(s string) bool {
	for _, c := range s {
		if c == '=' {
			return true
		}
	}
	return false
}

// isBoolFlag lists the boolean flags of the commands that use reorder.
func isBoolFlag(a string) bool {
	switch a {
	case "-h", "-help", "--help", "-f16", "-layers":
		return true
	}
	return false
}
