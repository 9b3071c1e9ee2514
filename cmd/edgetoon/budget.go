package main

import (
	"flag"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// defaultBudget is the memory a command that reads untrusted files
// (stylize, inspect, import, export-onnx) may use unless -max-memory
// says otherwise.
const defaultBudget = 1 << 30

// baseBytes is what a run needs beyond its inputs: the Go runtime, the
// program's code and data, stacks, and the garbage the collector lets
// lie between cycles. docs/hardening.md has what a run measures beside
// it.
const baseBytes = 48 << 20

// byteSize is a flag value in bytes, written as a plain number or with
// a binary unit: 512MiB, 2GiB (K, M, G, KB, MB, GB mean the same).
type byteSize int64

func (b *byteSize) String() string { return model.FormatBytes(int64(*b)) }

func (b *byteSize) Set(s string) error {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"KIB", 10}, {"MIB", 20}, {"GIB", 30}, {"TIB", 40}, {"KB", 10}, {"MB", 20}, {"GB", 30}, {"TB", 40}, {"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}, {"B", 0}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), 1<<u.shift
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*float64(mult) >= 1<<62 {
		return fmt.Errorf("%q: want a size such as 512MiB or 2GiB", s)
	}
	*b = byteSize(v * float64(mult))
	return nil
}

// budgetFlag adds -max-memory to fs.
func budgetFlag(fs *flag.FlagSet) *byteSize {
	b := byteSize(defaultBudget)
	fs.Var(&b, "max-memory", "memory `budget` for this run (e.g. 512MiB, 2GiB): inputs that need more are refused before the work")
	return &b
}

// apply makes the budget the Go runtime's soft memory limit, less the
// resident memory the runtime does not count (the program's code and
// data), and has the collector run as soon as the heap has grown by
// gcPercent since the last collection. Under a limit alone the heap
// fills with garbage up to the limit before a collection starts, and
// the allocation that starts it (a whole activation) lands on top: the
// teacher at 1024x1024 peaked 10 MiB over a 580 MiB budget that way.
// check is what keeps the live memory below the limit.
func (b byteSize) apply() {
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(max(int64(b)-unaccounted, int64(b)/2))
}

// gcPercent is the heap growth (GOGC) that starts a collection. The
// heap is a few large pointer-free tensors, so a collection costs
// little however often it runs.
const gcPercent = 5

// unaccounted is the resident memory outside the Go runtime's count.
const unaccounted = 16 << 20

// part is one share of a run's memory, named in a refusal.
type part struct {
	what  string
	bytes int64
}

// check refuses a task whose parts, with baseBytes, exceed the budget,
// saying what it needed and what for.
func (b byteSize) check(task, advice string, parts ...part) error {
	total := int64(baseBytes)
	var list []string
	for _, p := range parts {
		total += p.bytes
		list = append(list, p.what+" "+model.FormatBytes(p.bytes))
	}
	if total <= int64(b) {
		return nil
	}
	return fmt.Errorf("%s needs about %s (%s, runtime %s), more than the memory budget of %s; %s, or raise -max-memory",
		task, model.FormatBytes(total), strings.Join(list, ", "), model.FormatBytes(baseBytes), model.FormatBytes(int64(b)), advice)
}

// fileLimit is the largest input file a reader may load when its work
// takes up to factor times the file's size: the budget's share left
// after baseBytes.
func (b byteSize) fileLimit(factor int64) int64 {
	return max(int64(b)-baseBytes, 0) / factor
}
