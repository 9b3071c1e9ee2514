package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/web"
)

// The models built into this binary are the ones serve offers: the
// project's own under web/models (the default, "student", among them) and
// the teacher under web/dist/models where the build imported it.
var builtinDirs = []string{"models", "dist/models"}

// defaultStyle is the model stylize runs without -model: the page's
// default.
const defaultStyle = "student"

// builtinModels lists the names of the models built into this binary.
func builtinModels() []string {
	var names []string
	for _, dir := range builtinDirs {
		matches, _ := fs.Glob(web.FS, dir+"/*.safetensors")
		for _, m := range matches {
			names = append(names, strings.TrimSuffix(path.Base(m), ".safetensors"))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// isModelName says whether arg names a built-in model rather than a
// file: it has no path separator or extension and no file of that name
// exists here.
func isModelName(arg string) bool {
	if arg == "" || strings.ContainsAny(arg, `/\.`) {
		return false
	}
	_, err := os.Lstat(arg)
	return errors.Is(err, fs.ErrNotExist)
}

// readModel reads a model within the budget: a file, or a model built
// into this binary by name (isModelName). Decoding holds the file and its
// weights as float32, up to three times the file for F16.
func readModel(arg string, b byteSize) (*model.Graph, error) {
	limit := b.fileLimit(3)
	if isModelName(arg) {
		return readBuiltin(arg, limit, b)
	}
	g, err := model.ReadFileLimit(arg, limit)
	if errors.Is(err, model.ErrTooLarge) && limit < model.MaxFileBytes {
		return nil, fmt.Errorf("%w (what the memory budget of %s leaves a model file; raise -max-memory)", err, b.String())
	}
	return g, err
}

func readBuiltin(name string, limit int64, b byteSize) (*model.Graph, error) {
	for _, dir := range builtinDirs {
		data, err := fs.ReadFile(web.FS, dir+"/"+name+".safetensors")
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("built-in model %s: %w", name, err)
		}
		if int64(len(data)) > limit {
			return nil, fmt.Errorf("built-in model %s: %s, more than the memory budget of %s leaves a model file; raise -max-memory",
				name, model.FormatBytes(int64(len(data))), b.String())
		}
		g, err := model.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("built-in model %s: %w", name, err)
		}
		return g, nil
	}
	msg := fmt.Sprintf("no model file or built-in model %q (built in: %s)", name, strings.Join(builtinModels(), ", "))
	if name == "whitebox" {
		msg += "; the teacher is built in where make model ran before the build"
	}
	return nil, errors.New(msg)
}
