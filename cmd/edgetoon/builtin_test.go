package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Without -model, stylize runs the page's default model built into the
// binary: its picture is the one the committed file gives.
func TestStylizeBuiltinDefault(t *testing.T) {
	dir := t.TempDir()
	byName, byFile := filepath.Join(dir, "name.png"), filepath.Join(dir, "file.png")
	abs, err := filepath.Abs(portrait)
	if err != nil {
		t.Fatal(err)
	}
	if err := runStylize([]string{"-size", "64", abs, "-o", byName}); err != nil {
		t.Fatal(err)
	}
	if err := runStylize([]string{"-model", student, "-size", "64", abs, "-o", byFile}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(byName)
	b, _ := os.ReadFile(byFile)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("stylize without -model wrote %d bytes, with -model %s %d bytes: want the same picture", len(a), student, len(b))
	}
	if !slices.Contains(builtinModels(), defaultStyle) {
		t.Errorf("built-in models %v lack the default %q", builtinModels(), defaultStyle)
	}
}

// A name that is no built-in model and no file is refused with the list of
// built-in ones; a file of that name in the working directory wins over a
// built-in model; a path never means a built-in model.
func TestModelNames(t *testing.T) {
	_, err := readModel("nosuch", 1<<30)
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) || !strings.Contains(err.Error(), defaultStyle) {
		t.Errorf("readModel(nosuch): %v, want an error naming it and the built-in models", err)
	}
	if _, err := readModel(defaultStyle, 1<<30); err != nil {
		t.Errorf("readModel(%s): %v", defaultStyle, err)
	}
	if _, err := readModel(defaultStyle, baseBytes+1<<10); err == nil || !strings.Contains(err.Error(), "-max-memory") {
		t.Errorf("readModel(%s) within a 1 KiB budget: %v, want it refused", defaultStyle, err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(defaultStyle, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readModel(defaultStyle, 1<<30); err == nil || strings.Contains(err.Error(), "built-in") {
		t.Errorf("readModel(%s) beside a file of that name: %v, want the file's error", defaultStyle, err)
	}
	for _, p := range []string{"./nosuch", "nosuch.safetensors", filepath.Join(dir, "nosuch")} {
		if _, err := readModel(p, 1<<30); err == nil || strings.Contains(err.Error(), "built-in") {
			t.Errorf("readModel(%s): %v, want a file error", p, err)
		}
	}
}

// stylize reads WebP: a lossless WebP gives the picture its PNG gives.
func TestStylizeWebP(t *testing.T) {
	dir := t.TempDir()
	var outs [][]byte
	for _, in := range []string{"gradient.png", "gradient-lossless.webp"} {
		out := filepath.Join(dir, in+".out.png")
		if err := runStylize([]string{"-size", "64", filepath.Join("..", "..", "internal", "photo", "testdata", in), "-o", out}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, data)
	}
	if len(outs[0]) == 0 || !bytes.Equal(outs[0], outs[1]) {
		t.Errorf("stylize of the lossless WebP differs from that of its PNG (%d and %d bytes)", len(outs[1]), len(outs[0]))
	}
}
