package latency

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// A ModelProfile is a real model's frame timed pass by pass on a device
// (the engine's profileModel, 'edgetoon-lab profile -model'): where a
// frame's time goes, pass by pass, in the engine's own plan. Its passes
// are timed one at a time, each run back to back on inputs the whole
// frame stored, so their sum is close to Frame but not equal to it.
type ModelProfile struct {
	Schema string `json:"schema"`
	Model  string `json:"model"`
	// Height and Width are the input's size.
	Height int    `json:"height"`
	Width  int    `json:"width"`
	Device Device `json:"device"`
	// Frame is every pass of the plan timed as one run.
	Frame  Timing       `json:"frame"`
	Passes []PassTiming `json:"passes"`
}

// ProfileSchema identifies the ModelProfile format.
const ProfileSchema = "edgetoon-model-profile/1"

// Timing is the statistics of a run's timed samples, in milliseconds.
type Timing struct {
	MedianMS float64 `json:"median_ms"`
	P10MS    float64 `json:"p10_ms"`
	P90MS    float64 `json:"p90_ms"`
	Reps     int     `json:"reps"`
}

// PassTiming is one pass of the plan and its time.
type PassTiming struct {
	// Value is the value the pass writes; Nodes the graph nodes it
	// computes, the first its root.
	Value string   `json:"value"`
	Nodes []string `json:"nodes"`
	// Program is the index of its program in the plan; Op the op the
	// program was generated for.
	Program int    `json:"program"`
	Op      string `json:"op"`
	// Draws and Outputs: the draws of the pass and the render targets
	// of each; Pixels the output pixels of a fragment.
	Draws   int `json:"draws"`
	Outputs int `json:"outputs"`
	Pixels  int `json:"pixels"`
	// W and H are the pass's viewport.
	W int `json:"w"`
	H int `json:"h"`
	// MACs counts the multiply-adds of a conv pass as its direct conv's
	// (0 for other passes, and for a Winograd conv's first two).
	MACs int64 `json:"macs"`
	Timing
}

// ReadModelProfile decodes and checks a ModelProfile.
func ReadModelProfile(r io.Reader) (*ModelProfile, error) {
	var p ModelProfile
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("model profile: %w", err)
	}
	if p.Schema != ProfileSchema {
		return nil, fmt.Errorf("model profile: schema %q, want %q", p.Schema, ProfileSchema)
	}
	if len(p.Passes) == 0 {
		return nil, fmt.Errorf("model profile: no passes")
	}
	if err := p.Frame.check(); err != nil {
		return nil, fmt.Errorf("model profile: frame: %w", err)
	}
	for _, ps := range p.Passes {
		if err := ps.check(); err != nil {
			return nil, fmt.Errorf("model profile: pass %s: %w", ps.Value, err)
		}
	}
	return &p, nil
}

// check says whether t is a measurement: a positive, finite median of
// at least one sample.
func (t Timing) check() error {
	if !(t.MedianMS > 0) || math.IsInf(t.MedianMS, 0) || t.Reps < 1 {
		return fmt.Errorf("a timing of %v ms over %d samples", t.MedianMS, t.Reps)
	}
	return nil
}
