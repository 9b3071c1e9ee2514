package main

import (
	"flag"
	"fmt"
	"image/png"
	"runtime"
	"strings"

	"github.com/edgetoon/edgetoon/internal/photo"
	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/cpu"
)

func runStylize(args []string) error {
	fs := flag.NewFlagSet("stylize", flag.ContinueOnError)
	modelPath := fs.String("model", defaultStyle, "model `file`, or the name of a model built into this binary ("+strings.Join(builtinModels(), ", ")+")")
	size := fs.Int("size", 0, "longer side of the network input in pixels (0: the photo's own, at most 1024)")
	out := fs.String("o", "", "output PNG file (required)")
	budget := budgetFlag(fs)
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 1 || *out == "" {
		return fmt.Errorf("usage: edgetoon stylize [-model m.safetensors|NAME] [-size N] [-max-memory 1GiB] in.jpg -o out.png")
	}
	budget.apply()
	w, err := createOutput(*out)
	if err != nil {
		return err
	}
	defer w.abort()
	g, err := readModel(*modelPath, *budget)
	if err != nil {
		return err
	}
	in := fs.Arg(0)
	data, err := photo.ReadFile(in, budget.fileLimit(1))
	if err != nil {
		return err
	}
	info, err := photo.Probe(data)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	fw, fh, pw, ph, err := inputSize(info, *size, g.SizeMultiple)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if err := stylizeFits(*budget, g, info, len(data), fw, fh, pw, ph); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	img, err := photo.DecodeData(data)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	x, alpha := photo.ToTensor(img, fw, fh, pw, ph, g.Norm) // alpha nil for an opaque photo
	y, err := cpu.Run(g, x)
	if err != nil {
		return err
	}
	cartoon := photo.FromTensor(y, fw, fh, g.Denorm)
	if alpha != nil {
		photo.KeepAlpha(cartoon, alpha)
	}
	if err := png.Encode(w, cartoon); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	return w.commit()
}

// inputSize is the network input for a photo: its longer side is size,
// or the photo's own up to 1024 when size is 0, rounded up to the
// model's size multiple.
func inputSize(info photo.Info, size, multiple int) (fw, fh, pw, ph int, err error) {
	long := size
	if long == 0 {
		long = min(max(info.Width, info.Height), 1024)
		if long < multiple {
			return 0, 0, 0, 0, fmt.Errorf("image of %dx%d pixels is too small: this model wants a longer side of at least %d (or set -size to scale it up)", info.Width, info.Height, multiple)
		}
	}
	if long < multiple || long > maxStylizeSize {
		return 0, 0, 0, 0, fmt.Errorf("-size %d: want %d..%d", long, multiple, maxStylizeSize)
	}
	fw, fh, pw, ph = photo.Fit(info.Width, info.Height, long, multiple)
	return fw, fh, pw, ph, nil
}

// maxStylizeSize caps -size whatever the budget.
const maxStylizeSize = 4096

// stylizeFits checks a stylize run against the budget before any pixel
// is decoded. The weights stay for the whole run; then the largest of
// its stages: reading the photo (the file, the decoded image, the
// resize to the network input), running the network on the CPU engine
// (its activations), writing the result (the output tensor, the image
// and the PNG encoder's rows).
func stylizeFits(b byteSize, g *model.Graph, info photo.Info, fileBytes, fw, fh, pw, ph int) error {
	acts, err := g.RunBytes(ph, pw, runtime.GOMAXPROCS(0))
	if err != nil {
		return fmt.Errorf("model at %dx%d: %w", pw, ph, err)
	}
	read := int64(fileBytes) + info.DecodeBytes + photo.ResizeBytes(info.Width, info.Height, fw, fh, pw, ph)
	write := 12*int64(pw)*int64(ph) + 4*int64(fw)*int64(fh) + 32*int64(fw) + 1<<20
	// A transparent photo's alpha, a byte a pixel, is kept from the read
	// to the write.
	alpha := int64(fw) * int64(fh)
	acts += alpha
	write += alpha
	stage := part{"reading the photo", read}
	if acts > stage.bytes {
		stage = part{fmt.Sprintf("activations at %dx%d", pw, ph), acts}
	}
	if write > stage.bytes {
		stage = part{"writing the result", write}
	}
	task := fmt.Sprintf("stylizing this %s of %dx%d at %dx%d", info.Format, info.Width, info.Height, fw, fh)
	return b.check(task, "use a smaller -size or image", part{"weights", 4 * g.Params()}, stage)
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
