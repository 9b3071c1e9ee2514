package latency

import (
	"fmt"
	"slices"
)

// CatalogSpec says which configurations of the searchable family to
// profile. The family (the White-box generator's shape, widths searched)
// on an S x S input is, with h = S/2 and q = S/4 and every conv but the
// last followed by a leaky ReLU:
//
//	conv k7 3->c0 @S; conv k3 s2 c0->c1 @S; conv k3 c1->c2 @h;
//	conv k3 s2 c2->c3 @h; conv k3 c3->r @q; 0..4 resblocks r/m @q;
//	conv k3 r->c5 @q; upsample_add c5 @q; conv k3 c5->c6 @h;
//	conv k3 c6->c7 @h; upsample_add c7 @h; conv k3 c7->c8 @S;
//	conv k7 c8->3 @S (no activation); guided filter k3 3 @S.
//
// The catalogue holds each of these block shapes for every input size and
// every pair of widths from Channels, plus the forms the search may also
// ask about: a resblock's second conv on its own (residual, no
// activation), its first conv on its own, and the guided filter at S/2
// and S/4 too. The three full-resolution convs also come at every kernel
// side of [KernelConvs] (conv0 and conv9 k3/k5/k7, conv8 k1/k3/k5), with
// widths from KernelWidths only.
type CatalogSpec struct {
	InputSizes []int // square network input sizes; each a multiple of 4
	Channels   []int // searched widths
	// KernelWidths are the widths of conv0's output and conv9's input,
	// and of conv8's both sides, at the kernel choices that are not the
	// teacher's; empty: none.
	KernelWidths []int
}

// FullSpec is the catalogue to profile on a device: input sizes 128 and
// 256 (block resolutions 32..256) and widths 4..128. The kernel choices
// come at widths up to the teacher's full-resolution 32, the most a
// student searched from it keeps there (140 blocks: docs/latency.md).
var FullSpec = CatalogSpec{
	InputSizes:   []int{128, 256},
	Channels:     []int{4, 8, 16, 24, 32, 48, 64, 96, 128},
	KernelWidths: []int{4, 8, 16, 24, 32},
}

// leaky is the family's activation.
const leaky = "leaky_relu"

// Catalog returns the configurations of spec, sorted by [Compare], each
// once.
func Catalog(spec CatalogSpec) ([]Block, error) {
	if len(spec.InputSizes) == 0 || len(spec.Channels) == 0 {
		return nil, fmt.Errorf("catalog: no input sizes or no channels")
	}
	for _, s := range spec.InputSizes {
		if s < 4 || s%4 != 0 || s > MaxSide {
			return nil, fmt.Errorf("catalog: input size %d: want a multiple of 4 in 4..%d", s, MaxSide)
		}
	}
	for _, c := range append(slices.Clone(spec.Channels), spec.KernelWidths...) {
		if c < 1 || c > MaxChannels {
			return nil, fmt.Errorf("catalog: channels %d: out of range 1..%d", c, MaxChannels)
		}
	}
	var out []Block
	conv := func(k, s, cin, cout, h int, act string) Block {
		return Block{Kind: KindConv, K: k, Stride: s, Cin: cin, Cout: cout, H: h, W: h, Act: act}
	}
	for _, s := range spec.InputSizes {
		h, q := s/2, s/4
		for _, r := range []int{s, h, q} { // cheap, and more rows for the predictor
			out = append(out, Block{Kind: KindGuidedFilter, K: 3, Cin: 3, Cout: 3, H: r, W: r})
		}
		for _, a := range spec.Channels {
			out = append(out,
				conv(7, 1, 3, a, s, leaky),
				conv(7, 1, a, 3, s, ""),
				Block{Kind: KindUpsampleAdd, Cin: a, Cout: a, H: q, W: q},
				Block{Kind: KindUpsampleAdd, Cin: a, Cout: a, H: h, W: h},
			)
			for _, b := range spec.Channels {
				res := conv(3, 1, a, b, q, "")
				res.Residual = true
				out = append(out,
					conv(3, 2, a, b, s, leaky),
					conv(3, 1, a, b, h, leaky),
					conv(3, 2, a, b, h, leaky),
					conv(3, 1, a, b, q, leaky),
					res,
					Block{Kind: KindResBlock, K: 3, Stride: 1, Cin: a, Cout: a, Mid: b, H: q, W: q, Act: leaky},
					conv(3, 1, a, b, s, leaky),
				)
			}
		}
	}
	for _, s := range spec.InputSizes {
		out = append(out, kernelChoices(spec.KernelWidths, s)...)
	}
	slices.SortFunc(out, Compare)
	out = slices.CompactFunc(out, func(a, b Block) bool { return a == b })
	for _, b := range out {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
	}
	return out, nil
}

// kernelChoices are conv0, conv8 and conv9 of the family on an s x s
// input at every kernel side of [KernelConvs] and the given widths.
func kernelChoices(widths []int, s int) []Block {
	conv := func(k, cin, cout int, act string) Block {
		return Block{Kind: KindConv, K: k, Stride: 1, Cin: cin, Cout: cout, H: s, W: s, Act: act}
	}
	var out []Block
	for _, kc := range KernelConvs {
		for _, k := range kc.Choices {
			for _, a := range widths {
				switch kc.Name {
				case "k0":
					out = append(out, conv(k, 3, a, leaky))
				case "k9":
					out = append(out, conv(k, a, 3, ""))
				case "k8":
					for _, b := range widths {
						out = append(out, conv(k, a, b, leaky))
					}
				default:
					panic("latency: kernel conv " + kc.Name + " has no catalogue shape") // a bug in this file
				}
			}
		}
	}
	return out
}

// FullCatalog is Catalog(FullSpec).
func FullCatalog() []Block {
	out, err := Catalog(FullSpec)
	if err != nil {
		panic("latency: FullSpec is invalid: " + err.Error()) // a bug in this file
	}
	return out
}

// ReducedCatalog is a handful of configurations, one of each block shape
// of the family at a 64 x 64 input, for a quick run in CI.
func ReducedCatalog() []Block {
	out := []Block{
		{Kind: KindConv, K: 7, Stride: 1, Cin: 3, Cout: 8, H: 64, W: 64, Act: leaky},
		{Kind: KindConv, K: 5, Stride: 1, Cin: 3, Cout: 8, H: 64, W: 64, Act: leaky}, // a kernel choice
		{Kind: KindConv, K: 3, Stride: 2, Cin: 8, Cout: 16, H: 64, W: 64, Act: leaky},
		{Kind: KindConv, K: 3, Stride: 1, Cin: 16, Cout: 16, H: 32, W: 32, Act: leaky},
		{Kind: KindConv, K: 3, Stride: 1, Cin: 8, Cout: 16, H: 16, W: 16, Residual: true},
		{Kind: KindResBlock, K: 3, Stride: 1, Cin: 16, Cout: 16, Mid: 8, H: 16, W: 16, Act: leaky},
		{Kind: KindUpsampleAdd, Cin: 16, Cout: 16, H: 16, W: 16},
		{Kind: KindConv, K: 3, Stride: 1, Cin: 16, Cout: 8, H: 32, W: 32, Act: leaky},
		{Kind: KindConv, K: 7, Stride: 1, Cin: 8, Cout: 3, H: 64, W: 64},
		{Kind: KindGuidedFilter, K: 3, Cin: 3, Cout: 3, H: 64, W: 64},
	}
	slices.SortFunc(out, Compare)
	return out
}
