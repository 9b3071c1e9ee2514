package latency

import (
	"cmp"
	"fmt"
	"strings"
)

// Block kinds.
const (
	KindConv         = "conv"          // one conv2d pass with its fusions
	KindResBlock     = "resblock"      // conv (act) -> conv -> + input
	KindUpsampleAdd  = "upsample_add"  // bilinear x2 of the input plus a skip tensor
	KindGuidedFilter = "guided_filter" // box means and elementwise ops at one size
)

// kinds lists the kinds in their canonical order.
var kinds = []string{KindConv, KindResBlock, KindUpsampleAdd, KindGuidedFilter}

// Limits on block fields. They bound what a table may describe, not what
// the family uses.
const (
	MaxSide     = 4096 // largest H or W, and largest output side
	MaxChannels = 1024 // largest Cin, Cout or Mid
	MaxKernel   = 7    // largest conv kernel side
	MaxWindow   = 129  // largest guided-filter window side (radius 64)
)

// Block is one configuration of a building block. Which fields a kind
// reads is listed below; the others must be zero, so that one
// configuration has one encoding.
//
//   - conv: K (odd kernel side), Stride (1 or 2), Cin, Cout, H x W (size of
//     the input tensor as stored), Act, Residual (a tensor of the output's
//     shape is added in the same pass).
//   - resblock: K, Cin (the block's width; Cout equals it), Mid (the first
//     conv's output channels), H x W, Act (the first conv's); Stride is 1.
//   - upsample_add: Cin (Cout equals it), H x W (the low-resolution input;
//     the output is 2H x 2W).
//   - guided_filter: Cin (Cout equals it), H x W, K (the box window side,
//     2*radius+1).
type Block struct {
	Kind     string `json:"kind"`
	K        int    `json:"k,omitempty"`
	Stride   int    `json:"stride,omitempty"`
	Cin      int    `json:"cin"`
	Cout     int    `json:"cout"`
	Mid      int    `json:"mid,omitempty"`
	H        int    `json:"h"`
	W        int    `json:"w"`
	Act      string `json:"act,omitempty"`
	Residual bool   `json:"residual,omitempty"`
}

// Validate reports the first field of b that is out of range for its kind.
func (b Block) Validate() error {
	if err := b.validate(); err != nil {
		return fmt.Errorf("block %s: %w", b.Key(), err)
	}
	return nil
}

func (b Block) validate() error {
	if err := inRange("h", b.H, 1, MaxSide); err != nil {
		return err
	}
	if err := inRange("w", b.W, 1, MaxSide); err != nil {
		return err
	}
	if err := inRange("cin", b.Cin, 1, MaxChannels); err != nil {
		return err
	}
	if err := inRange("cout", b.Cout, 1, MaxChannels); err != nil {
		return err
	}
	if !validAct(b.Act) {
		return fmt.Errorf("act %q: want one of \"\", relu, relu6, leaky_relu, tanh, sigmoid", b.Act)
	}
	switch b.Kind {
	case KindConv:
		if err := oddInRange("k", b.K, 1, MaxKernel); err != nil {
			return err
		}
		if err := inRange("stride", b.Stride, 1, 2); err != nil {
			return err
		}
		if b.Mid != 0 {
			return fmt.Errorf("mid %d: must be 0 for a conv", b.Mid)
		}
		return nil
	case KindResBlock:
		if err := oddInRange("k", b.K, 1, MaxKernel); err != nil {
			return err
		}
		if b.Stride != 1 {
			return fmt.Errorf("stride %d: a resblock has stride 1", b.Stride)
		}
		if err := inRange("mid", b.Mid, 1, MaxChannels); err != nil {
			return err
		}
	case KindUpsampleAdd:
		if b.K != 0 || b.Stride != 0 || b.Mid != 0 || b.Act != "" {
			return fmt.Errorf("k, stride, mid and act must be zero for %s", b.Kind)
		}
		if 2*b.H > MaxSide || 2*b.W > MaxSide {
			return fmt.Errorf("output %dx%d: larger than %d", 2*b.H, 2*b.W, MaxSide)
		}
	case KindGuidedFilter:
		if err := oddInRange("k", b.K, 3, MaxWindow); err != nil {
			return err
		}
		if b.Stride != 0 || b.Mid != 0 || b.Act != "" {
			return fmt.Errorf("stride, mid and act must be zero for %s", b.Kind)
		}
	default:
		return fmt.Errorf("kind %q: want one of %s", b.Kind, strings.Join(kinds, ", "))
	}
	if b.Cout != b.Cin {
		return fmt.Errorf("cout %d: must equal cin %d for %s", b.Cout, b.Cin, b.Kind)
	}
	if b.Residual {
		return fmt.Errorf("residual applies to conv only")
	}
	return nil
}

func inRange(field string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %d: out of range %d..%d", field, v, lo, hi)
	}
	return nil
}

func oddInRange(field string, v, lo, hi int) error {
	if err := inRange(field, v, lo, hi); err != nil {
		return err
	}
	if v%2 == 0 {
		return fmt.Errorf("%s %d: must be odd", field, v)
	}
	return nil
}

func validAct(a string) bool {
	switch a {
	case "", "relu", "relu6", "leaky_relu", "tanh", "sigmoid":
		return true
	}
	return false
}

// RunH and RunW give the size the block computes on: twice the input for
// an upsample_add, the input otherwise.
func (b Block) RunH() int { return b.H * b.upscale() }
func (b Block) RunW() int { return b.W * b.upscale() }

func (b Block) upscale() int {
	if b.Kind == KindUpsampleAdd {
		return 2
	}
	return 1
}

// OutH and OutW give the output size (SAME padding for convs).
func (b Block) OutH() int { return ceilDiv(b.RunH(), b.stride()) }
func (b Block) OutW() int { return ceilDiv(b.RunW(), b.stride()) }

func (b Block) stride() int { return max(b.Stride, 1) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// MACs is the block's multiply-accumulate count with exact channel counts,
// as model.Graph.Layers counts them: zero for the kinds without convs.
func (b Block) MACs() int64 {
	out := int64(b.OutH()) * int64(b.OutW())
	kk := int64(b.K) * int64(b.K)
	switch b.Kind {
	case KindConv:
		return out * kk * int64(b.Cin) * int64(b.Cout)
	case KindResBlock:
		return 2 * out * kk * int64(b.Cin) * int64(b.Mid)
	}
	return 0
}

// Key is a short readable form of the configuration, unique per
// configuration: "conv k3 s2 32->64 @128x128 leaky_relu +res". A field
// the short form of a kind leaves out but which is set anyway (an invalid
// block) makes Key show every field.
func (b Block) Key() string {
	var s strings.Builder
	switch {
	case b.Kind == KindConv && b.Mid == 0:
		fmt.Fprintf(&s, "conv k%d s%d %d->%d", b.K, b.Stride, b.Cin, b.Cout)
	case b.Kind == KindResBlock && b.Stride == 1 && b.Cout == b.Cin:
		fmt.Fprintf(&s, "resblock k%d %d/%d", b.K, b.Cin, b.Mid)
	case b.Kind == KindUpsampleAdd && b.K == 0 && b.Stride == 0 && b.Mid == 0 && b.Cout == b.Cin:
		fmt.Fprintf(&s, "upsample_add %d", b.Cin)
	case b.Kind == KindGuidedFilter && b.Stride == 0 && b.Mid == 0 && b.Cout == b.Cin:
		fmt.Fprintf(&s, "guided_filter k%d %d", b.K, b.Cin)
	default:
		fmt.Fprintf(&s, "%q k%d s%d %d->%d mid%d", b.Kind, b.K, b.Stride, b.Cin, b.Cout, b.Mid)
	}
	fmt.Fprintf(&s, " @%dx%d", b.H, b.W)
	if validAct(b.Act) && b.Act != "" {
		s.WriteString(" " + b.Act)
	} else if b.Act != "" {
		fmt.Fprintf(&s, " %q", b.Act)
	}
	if b.Residual {
		s.WriteString(" +res")
	}
	return s.String()
}

// Compare orders blocks canonically: by kind, size, kernel, stride,
// channels, activation and the residual flag. It returns 0 only for equal blocks.
func Compare(a, b Block) int {
	return cmp.Or(
		cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.H, b.H),
		cmp.Compare(a.W, b.W),
		cmp.Compare(a.K, b.K),
		cmp.Compare(a.Stride, b.Stride),
		cmp.Compare(a.Cin, b.Cin),
		cmp.Compare(a.Cout, b.Cout),
		cmp.Compare(a.Mid, b.Mid),
		cmp.Compare(a.Act, b.Act),
		cmpBool(a.Residual, b.Residual),
	)
}

func kindRank(k string) int {
	for i, s := range kinds {
		if s == k {
			return i
		}
	}
	return len(kinds)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}
