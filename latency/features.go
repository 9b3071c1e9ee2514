package latency

import (
	"math"
	"slices"

	"github.com/edgetoon/edgetoon/kernels"
)

// FeatureNames lists the predictor's inputs in order. With slices(c) =
// ceil(c/4), the number of RGBA texels that hold c channels, and the
// output size from [Block.OutH] and [Block.OutW]:
//
//	conv, resblock, upsample_add, guided_filter: 1 for the block's kind, else 0
//	log2_cin_slices   log2 slices(cin)
//	log2_cout_slices  log2 slices(cout)
//	log2_mid_slices   log2 slices(mid), 0 when mid is 0
//	log2_in_pixels    log2 (h*w)
//	log2_out_pixels   log2 (out_h*out_w)
//	kernel            k (0 for upsample_add)
//	stride            stride (0 for upsample_add and guided_filter)
//	act               1 if act is set, else 0
//	residual          1 or 0
//	baked             1 if the block's (first) conv takes its weights
//	                  into its program (kernels.Bakes with up to
//	                  kernels.MostOutputs render targets, its channels
//	                  rounded up to whole texels), else 0
//	baked2            the same of a resblock's second conv, 0 for the
//	                  other kinds
//	winograd          1 if the block's (first) conv has the shape fp32
//	                  plans run as Winograd (kernels.WinogradShape,
//	                  stride 1, its channels rounded up to whole
//	                  texels), else 0
//	winograd2         the same of a resblock's second conv
//	log2_texel_macs   log2 (1 + multiply-accumulates with channels
//	                  rounded up to whole texels: out pixels * k*k *
//	                  4*slices(cin) * 4*slices(cout); twice that through
//	                  the mid width for a resblock; 0 for the other kinds)
//	log2_texel_io     log2 of the texels read once and written:
//	                  input + output, + the residual (output-sized), + the mid
//	                  tensor written and read for a resblock; for
//	                  upsample_add input + skip + output; for
//	                  guided_filter 3 * h*w*slices(cin)
//
// [FeatureTerms] is this closed form, written once: [Features] evaluates
// it, and train/latency_mlp.py evaluates the same terms, which
// [FeatureTable] exports, differentiably in the widths.
var FeatureNames = []string{
	"conv", "resblock", "upsample_add", "guided_filter",
	"log2_cin_slices", "log2_cout_slices", "log2_mid_slices",
	"log2_in_pixels", "log2_out_pixels",
	"kernel", "stride", "act", "residual",
	"baked", "baked2",
	"winograd", "winograd2",
	"log2_texel_macs", "log2_texel_io",
}

// Width roles: the channel counts a block's features depend on.
const (
	RoleCin  = "cin"
	RoleCout = "cout"
	RoleMid  = "mid"
)

// Terms is a block's features as a closed form in its widths, through
// s(role) = slices of that role's channel count:
//
//	feature i = Const[i], except
//	feature LogSlices[role] = log2 s(role),
//	log2_texel_macs = log2(1 + MACs * product of s(r) for r in MACsOf),
//	log2_texel_io = log2(1 + sum of IO[j].Coef * s(IO[j].Role)),
//	feature Baked[j].Feature = 1 if kernels.Bakes(K, K, 4 s(In), 4 s(Out),
//	MostOutputs), else 0: with W = K*K * 16 s(In) s(Out) (its weights)
//	and T = K*K * s(In) s(Out) (its unrolled products), 1 exactly when
//	W <= MaxWeights, T <= MaxTerms and s(Out) <= MostOutputs;
//	feature Winograd[j].Feature = 1 if 4 s(In) >= MinChannels and
//	4 s(Out) >= MinChannels, else 0 (a term is listed only for a 3x3
//	conv of stride 1).
//
// Terms are evaluated left to right, in the order listed.
type Terms struct {
	Const     []float64         `json:"const"`
	LogSlices map[string]string `json:"log2_slices"` // feature name -> role
	MACs      float64           `json:"macs"`
	MACsOf    []string          `json:"macs_of"`
	IO        []Term            `json:"io"`
	Baked     []BakeTerm        `json:"baked,omitempty"`
	Winograd  []WinogradTerm    `json:"winograd,omitempty"`
}

// WinogradTerm is a Winograd feature: whether a 3x3 stride-1 conv from
// role In to role Out has kernels.WinogradShape, on whole texels,
// spelled out for train/latency_mlp.py as BakeTerm is.
type WinogradTerm struct {
	Feature     string `json:"feature"`
	In          string `json:"in"`
	Out         string `json:"out"`
	MinChannels int    `json:"min_channels"`
}

// winograd evaluates t for slices s: kernels.WinogradShape on whole
// texels.
func (t WinogradTerm) winograd(s map[string]float64) bool {
	in, out := texelChannels(s, t.In), texelChannels(s, t.Out)
	return kernels.WinogradShape(3, 3, in, out)
}

// BakeTerm is a baked feature: whether a K x K conv from role In to role
// Out takes its weights into its program. The bounds are
// kernels.Bakes's, spelled out for train/latency_mlp.py (its test checks
// them against Go's features).
type BakeTerm struct {
	Feature     string `json:"feature"`
	K           int    `json:"k"`
	In          string `json:"in"`
	Out         string `json:"out"`
	MaxWeights  int    `json:"max_weights"`
	MaxTerms    int    `json:"max_terms"`
	MostOutputs int    `json:"most_outputs"`
}

// baked evaluates t for slices s: kernels.Bakes on whole texels.
func (t BakeTerm) baked(s map[string]float64) bool {
	in, out := texelChannels(s, t.In), texelChannels(s, t.Out)
	return kernels.Bakes(t.K, t.K, in, out, t.MostOutputs)
}

// texelChannels is role's channel count for slices s on whole texels:
// 4 channels a texel, a partial slice taking a whole one, as the
// planner's textures hold them.
func texelChannels(s map[string]float64, role string) int {
	return 4 * int(math.Ceil(s[role]))
}

// Term is one summand of a linear form: Coef * s(Role).
type Term struct {
	Coef float64 `json:"coef"`
	Role string  `json:"role"`
}

// Features of the terms that are not constants.
const (
	featureMACs = "log2_texel_macs"
	featureIO   = "log2_texel_io"
)

// FeatureTerms returns b's features as a closed form in its widths (see
// [Terms]); only b's kind, sizes, kernel, stride, activation and residual
// flag enter it.
func FeatureTerms(b Block) Terms {
	t := Terms{Const: make([]float64, 0, len(FeatureNames)), LogSlices: map[string]string{
		"log2_cin_slices": RoleCin, "log2_cout_slices": RoleCout}}
	for _, k := range kinds {
		t.Const = append(t.Const, boolFeature(b.Kind == k))
	}
	if b.Mid > 0 {
		t.LogSlices["log2_mid_slices"] = RoleMid
	}
	inPix := float64(b.H) * float64(b.W)
	outPix := float64(b.OutH()) * float64(b.OutW())
	t.Const = append(t.Const,
		0, 0, 0,
		math.Log2(inPix), math.Log2(outPix),
		float64(b.K), float64(b.Stride),
		boolFeature(b.Act != ""), boolFeature(b.Residual),
		0, 0,
		0, 0,
		0, 0,
	)
	kk := float64(b.K) * float64(b.K)
	switch b.Kind {
	case KindConv:
		t.Baked = []BakeTerm{bakeTerm("baked", b.K, RoleCin, RoleCout)}
		if b.K == 3 && b.Stride == 1 {
			t.Winograd = []WinogradTerm{winogradTerm("winograd", RoleCin, RoleCout)}
		}
		t.MACs, t.MACsOf = outPix*kk*16, []string{RoleCin, RoleCout}
		t.IO = []Term{{inPix, RoleCin}, {outPix, RoleCout}}
		if b.Residual {
			t.IO = append(t.IO, Term{outPix, RoleCout})
		}
	case KindResBlock:
		t.Baked = []BakeTerm{bakeTerm("baked", b.K, RoleCin, RoleMid), bakeTerm("baked2", b.K, RoleMid, RoleCin)}
		if b.K == 3 && b.Stride == 1 {
			t.Winograd = []WinogradTerm{winogradTerm("winograd", RoleCin, RoleMid), winogradTerm("winograd2", RoleMid, RoleCin)}
		}
		t.MACs, t.MACsOf = 2*outPix*kk*16, []string{RoleCin, RoleMid}
		t.IO = []Term{{3 * inPix, RoleCin}, {2 * inPix, RoleMid}}
	case KindUpsampleAdd:
		t.IO = []Term{{inPix, RoleCin}, {8 * inPix, RoleCin}}
	case KindGuidedFilter:
		t.IO = []Term{{3 * inPix, RoleCin}}
	}
	return t
}

func bakeTerm(feature string, k int, in, out string) BakeTerm {
	w, terms := kernels.BakeBounds()
	return BakeTerm{Feature: feature, K: k, In: in, Out: out, MaxWeights: w, MaxTerms: terms, MostOutputs: kernels.MostOutputs}
}

// winogradTerm is the term of a 3x3 stride-1 conv from role in to out.
func winogradTerm(feature, in, out string) WinogradTerm {
	return WinogradTerm{Feature: feature, In: in, Out: out, MinChannels: kernels.WinogradMinChannels()}
}

// Eval returns the features for the given slices of each role.
func (t Terms) Eval(s map[string]float64) []float64 {
	f := append([]float64(nil), t.Const...)
	for i, name := range FeatureNames {
		if role, ok := t.LogSlices[name]; ok {
			f[i] = math.Log2(s[role])
		}
	}
	macs := 0.0
	if len(t.MACsOf) > 0 {
		macs = t.MACs
		for _, r := range t.MACsOf {
			macs *= s[r]
		}
	}
	io := 0.0
	for _, term := range t.IO {
		io += term.Coef * s[term.Role]
	}
	for _, bt := range t.Baked {
		f[slices.Index(FeatureNames, bt.Feature)] = boolFeature(bt.baked(s))
	}
	for _, wt := range t.Winograd {
		f[slices.Index(FeatureNames, wt.Feature)] = boolFeature(wt.winograd(s))
	}
	f[len(f)-2] = math.Log2(1 + macs)
	f[len(f)-1] = math.Log2(1 + io)
	return f
}

// Features returns b's predictor inputs, in the order of FeatureNames.
// For a block that fails [Block.Validate] the values are meaningless (and
// may be infinite), never a panic.
func Features(b Block) []float64 {
	return FeatureTerms(b).Eval(map[string]float64{
		RoleCin: texels(b.Cin), RoleCout: texels(b.Cout), RoleMid: texels(b.Mid)})
}

func boolFeature(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// texels is slices(c) = ceil(c/4) as a float.
func texels(c int) float64 { return float64((c + 3) / 4) }
