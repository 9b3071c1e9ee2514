package latency

import "math"

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
//	log2_texel_io = log2(1 + sum of IO[j].Coef * s(IO[j].Role)).
//
// Terms are evaluated left to right, in the order listed.
type Terms struct {
	Const     []float64         `json:"const"`
	LogSlices map[string]string `json:"log2_slices"` // feature name -> role
	MACs      float64           `json:"macs"`
	MACsOf    []string          `json:"macs_of"`
	IO        []Term            `json:"io"`
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
	)
	kk := float64(b.K) * float64(b.K)
	switch b.Kind {
	case KindConv:
		t.MACs, t.MACsOf = outPix*kk*16, []string{RoleCin, RoleCout}
		t.IO = []Term{{inPix, RoleCin}, {outPix, RoleCout}}
		if b.Residual {
			t.IO = append(t.IO, Term{outPix, RoleCout})
		}
	case KindResBlock:
		t.MACs, t.MACsOf = 2*outPix*kk*16, []string{RoleCin, RoleMid}
		t.IO = []Term{{3 * inPix, RoleCin}, {2 * inPix, RoleMid}}
	case KindUpsampleAdd:
		t.IO = []Term{{inPix, RoleCin}, {8 * inPix, RoleCin}}
	case KindGuidedFilter:
		t.IO = []Term{{3 * inPix, RoleCin}}
	}
	return t
}

// Eval returns the features for the given slices of each role.
func (t Terms) Eval(slices map[string]float64) []float64 {
	f := append([]float64(nil), t.Const...)
	for i, name := range FeatureNames {
		if role, ok := t.LogSlices[name]; ok {
			f[i] = math.Log2(slices[role])
		}
	}
	macs := 0.0
	if len(t.MACsOf) > 0 {
		macs = t.MACs
		for _, r := range t.MACsOf {
			macs *= slices[r]
		}
	}
	io := 0.0
	for _, term := range t.IO {
		io += term.Coef * slices[term.Role]
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
