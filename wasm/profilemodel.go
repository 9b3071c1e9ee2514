//go:build js && wasm && lab

package main

import (
	"encoding/json"
	"fmt"
	"syscall/js"

	"github.com/edgetoon/edgetoon/kernels"
	"github.com/edgetoon/edgetoon/latency"
)

// profileModel is edgetoon.profileModel: it plans a real model (options.model,
// the bytes of its file) at size x size (options.size, default the model's
// nominal size), runs it once whole, then times the whole frame and each
// of its passes alone, rounds times over so that drift spreads over all
// of them, and resolves to a latency.ModelProfile (JSON).
func profileModel(v js.Value) (any, error) {
	o, err := parseProfileOptions(v, "profileModel")
	if err != nil {
		return nil, err
	}
	mb := v.Get("model")
	if mb.Type() != js.TypeObject || !mb.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, errorf(codeArgument, "edgetoon.profileModel: options.model must be a Uint8Array of a model file")
	}
	data := make([]byte, mb.Length())
	js.CopyBytesToGo(data, mb)
	g, err := decodeModel(data, "to profile")
	if err != nil {
		return nil, err
	}
	size, err := intOption(v, "size", max(g.NominalSize, 256), 4, latency.MaxSide)
	if err != nil {
		return nil, errorf(codeArgument, "edgetoon.profileModel: %v", err)
	}
	p, err := newProfiler(o)
	if err != nil {
		return nil, err
	}
	defer p.close()
	if err := p.start(g, size, size); err != nil {
		return nil, fmt.Errorf("profiling %s at %d: %w", g.Name, size, err)
	}
	plan := p.e.run.plan
	n := len(plan.Passes)
	frame := []float64(nil)
	samples := make([][]float64, n)
	o.progress(0, o.rounds*(n+1), "")
	for r := range o.rounds {
		s, err := p.timePasses(func(*kernels.Pass) bool { return true })
		if err != nil {
			return nil, fmt.Errorf("profiling %s's frame: %w", g.Name, err)
		}
		frame = append(frame, s.samples...)
		for i := range plan.Passes {
			pass := &plan.Passes[i]
			s, err := p.timePasses(func(q *kernels.Pass) bool { return q == pass })
			if err != nil {
				return nil, fmt.Errorf("profiling %s's pass %s: %w", g.Name, pass, err)
			}
			samples[i] = append(samples[i], s.samples...)
			o.progress(r*(n+1)+i+2, o.rounds*(n+1), pass.Value)
		}
	}
	res := latency.ModelProfile{Schema: latency.ProfileSchema, Model: g.Name, Height: size, Width: size,
		Device: p.device(), Frame: timing(summarize(frame))}
	for i, pass := range plan.Passes {
		pr := plan.Programs[pass.Program]
		res.Passes = append(res.Passes, latency.PassTiming{
			Value: pass.Value, Nodes: pass.Nodes, Program: pass.Program, Op: pr.Op,
			Draws: len(pass.Bases), Outputs: pr.Outputs, Pixels: pass.Pixels, W: pass.W, H: pass.H,
			MACs: pass.MACs, Timing: timing(summarize(samples[i])),
		})
	}
	out, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return nil, err
	}
	return string(out), nil
}

func timing(s stats) latency.Timing {
	return latency.Timing{MedianMS: s.median, P10MS: s.p10, P90MS: s.p90, Reps: s.reps}
}
