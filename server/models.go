package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// ModelInfo is what the model picker shows about a model file. Config's
// Inspect produces it, and fails for files that are not valid models.
type ModelInfo struct {
	Title       string // the graph's own name
	License     string
	NominalSize int   // the square size it was trained at
	MACs256     int64 // multiply-accumulates for one 256x256 frame
	Params      int64
}

// InspectModel validates a model file with the model package and
// describes it.
func InspectModel(data []byte) (ModelInfo, error) {
	g, err := model.Decode(data)
	if err != nil {
		return ModelInfo{}, err
	}
	macs, err := g.MACs(256, 256)
	if err != nil {
		return ModelInfo{}, fmt.Errorf("cost at 256x256: %w", err)
	}
	return ModelInfo{
		Title:       g.Name,
		License:     g.License,
		NominalSize: g.NominalSize,
		MACs256:     macs,
		Params:      g.Params(),
	}, nil
}

// ModelEntry is one element of /models/index.json.
type ModelEntry struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	URL         string `json:"url"`
	Bytes       int64  `json:"bytes"`
	MACs256     int64  `json:"macs256"`
	Params      int64  `json:"params"`
	NominalSize int    `json:"nominalSize,omitempty"`
	License     string `json:"license"`
	Default     bool   `json:"default"`
	// Family groups the models that draw one style at different costs,
	// between which the page may switch by the device's speed: the
	// built-in ones (the teacher and the students distilled from it) are
	// "builtin"; a model of ModelDir is a family of its own, its name.
	Family string `json:"family"`
}

// validName keeps model names to characters that are safe in a URL path
// segment and a file name, with no leading dot.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// readModelDir reads the *.safetensors files of dir. Only regular files
// (or links to them) are read: a device such as /dev/zero would be read
// until memory ran out, and a FIFO would block the start forever. Those,
// files over model.MaxFileBytes and unreadable ones (a dangling link) are
// skipped with a logged reason.
func readModelDir(dir string, logf func(string, ...any)) (map[string][]byte, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("models dir %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("models dir: %w", err)
	}
	models := make(map[string][]byte)
	for _, name := range names {
		data, err := readRegular(name, model.MaxFileBytes)
		if err != nil {
			logf("skipping model file %s: %v", name, err)
			continue
		}
		models[strings.TrimSuffix(filepath.Base(name), ".safetensors")] = data
	}
	return models, nil
}

var (
	errNotRegular = errors.New("not a regular file")
	errTooBig     = errors.New("too large")
)

// readRegular reads the regular file name, of at most limit bytes. The
// file is checked before it is opened, since opening a FIFO blocks, and
// again after, through the descriptor, in case it was replaced between.
func readRegular(name string, limit int64) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w (%v)", errNotRegular, fi.Mode().Type())
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w (%v)", errNotRegular, fi.Mode().Type())
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%w: %d bytes, over the %d limit", errTooBig, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: over the %d limit", errTooBig, limit)
	}
	return data, nil
}

// addModels validates the embedded models and those of cfg.ModelDir and
// adds the valid ones to assets, with their index. Invalid files are
// skipped with a logged reason; an embedded model wins a name clash.
func (s *Server) addModels(assets map[string]*asset, embedded map[string][]byte) error {
	type source struct {
		origin string
		models map[string][]byte
	}
	sources := []source{{"embedded", embedded}}
	if s.cfg.ModelDir != "" {
		extra, err := readModelDir(s.cfg.ModelDir, s.logf)
		if err != nil {
			return err
		}
		sources = append(sources, source{s.cfg.ModelDir, extra})
	}
	var index []ModelEntry
	for _, src := range sources {
		names := make([]string, 0, len(src.models))
		for name := range src.models {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			data := src.models[name]
			p := "/models/" + name + ".safetensors"
			if !validName.MatchString(name) {
				s.logf("skipping model %q from %s: the name must match %s", name, src.origin, validName)
				continue
			}
			if assets[p] != nil {
				s.logf("skipping model %q from %s: a model of that name is already served", name, src.origin)
				continue
			}
			info, err := s.cfg.Inspect(data)
			if err != nil {
				s.logf("skipping model %q from %s: %v", name, src.origin, err)
				continue
			}
			a := &asset{path: p, ctype: contentTypes[".safetensors"], body: data, hash: hashOf(data), cors: true}
			assets[p] = a
			entry := ModelEntry{
				Name: name, Title: info.Title, URL: p + "?v=" + a.hash, Bytes: int64(len(data)),
				MACs256: info.MACs256, Params: info.Params, NominalSize: info.NominalSize,
				License: info.License, Default: name == s.cfg.DefaultModel, Family: name,
			}
			if src.origin == "embedded" {
				entry.Family = "builtin"
			}
			index = append(index, entry)
		}
	}
	def := "/models/" + s.cfg.DefaultModel + ".safetensors"
	if assets[def] == nil {
		assets[def] = missingAsset(def)
		s.missing = append(s.missing, def)
	}
	// The default model comes first: the picker selects the first entry
	// when nothing says otherwise.
	slices.SortStableFunc(index, func(a, b ModelEntry) int {
		switch {
		case a.Default == b.Default:
			return 0
		case a.Default:
			return -1
		}
		return 1
	})
	if index == nil {
		index = []ModelEntry{}
	}
	body, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return fmt.Errorf("model index: %w", err)
	}
	s.models = index
	assets[indexPath] = &asset{path: indexPath, ctype: contentTypes[".json"], body: append(body, '\n'), cors: true}
	return nil
}
