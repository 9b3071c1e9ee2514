package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/edgetoon/edgetoon/latency"
)

// printProfile prints a model's profile: the frame, then the work of
// each root node (a conv with what the planner fused into it; a
// Winograd conv's three passes together), the slowest first, with its
// share of the passes' sum and its rate in direct-conv multiply-adds.
func printProfile(w io.Writer, p *latency.ModelProfile) {
	type work struct {
		root, value string
		ms          float64
		macs        int64
		passes      []string
	}
	var rows []*work
	byRoot := map[string]*work{}
	var sum float64
	var macs int64
	for _, ps := range p.Passes {
		root := ps.Value
		if len(ps.Nodes) > 0 {
			root = ps.Nodes[0]
		}
		wk := byRoot[root]
		if wk == nil {
			wk = &work{root: root}
			byRoot[root] = wk
			rows = append(rows, wk)
		}
		wk.value = ps.Value // the last pass's: the value the work stores
		wk.ms += ps.MedianMS
		wk.macs += ps.MACs
		stage := "out"
		if _, suffix, ok := strings.Cut(ps.Value, "#"); ok {
			stage = strings.TrimPrefix(suffix, "winograd-")
		}
		wk.passes = append(wk.passes, fmt.Sprintf("%s %.1f", stage, ps.MedianMS))
		sum += ps.MedianMS
		macs += ps.MACs
	}
	fmt.Fprintf(w, "%s at %dx%d on %s (%s, %s timer)\n", p.Model, p.Width, p.Height, orUnknown(p.Device.Renderer), p.Device.Precision, p.Device.Timer)
	fmt.Fprintf(w, "frame %.1f ms (p10 %.1f, p90 %.1f; %d samples), %.2f GMAC/s; %d passes, timed alone, add up to %.1f ms\n\n",
		p.Frame.MedianMS, p.Frame.P10MS, p.Frame.P90MS, p.Frame.Reps, float64(macs)/p.Frame.MedianMS/1e6, len(p.Passes), sum)
	slices.SortStableFunc(rows, func(a, b *work) int { return cmp.Compare(b.ms, a.ms) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ms\tshare\tGMAC/s\tMMACs\t\tnode (value stored; passes' ms)")
	for _, wk := range rows {
		rate := "-"
		if wk.macs > 0 {
			rate = fmt.Sprintf("%.2f", float64(wk.macs)/wk.ms/1e6)
		}
		detail := ""
		if wk.value != wk.root {
			detail = wk.value
		}
		if len(wk.passes) > 1 {
			detail = strings.TrimPrefix(detail+"; "+strings.Join(wk.passes, " + "), "; ")
		}
		if detail != "" {
			detail = " (" + detail + ")"
		}
		fmt.Fprintf(tw, "%.2f\t%.1f %%\t%s\t%.1f\t\t%s%s\n", wk.ms, 100*wk.ms/sum, rate, float64(wk.macs)/1e6, wk.root, detail)
	}
	tw.Flush()
}
