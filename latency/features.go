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
// In a differentiable search with channel counts that are multiples of 4,
// slices(c) is c/4.
var FeatureNames = []string{
	"conv", "resblock", "upsample_add", "guided_filter",
	"log2_cin_slices", "log2_cout_slices", "log2_mid_slices",
	"log2_in_pixels", "log2_out_pixels",
	"kernel", "stride", "act", "residual",
	"log2_texel_macs", "log2_texel_io",
}

// Features returns b's predictor inputs, in the order of FeatureNames.
// For a block that fails [Block.Validate] the values are meaningless (and
// may be infinite), never a panic.
func Features(b Block) []float64 {
	f := make([]float64, 0, len(FeatureNames))
	for _, k := range kinds {
		f = append(f, boolFeature(b.Kind == k))
	}
	sin, sout, smid := texels(b.Cin), texels(b.Cout), texels(b.Mid)
	inPix := float64(b.H) * float64(b.W)
	outPix := float64(b.OutH()) * float64(b.OutW())
	logMid := 0.0
	if b.Mid > 0 {
		logMid = math.Log2(smid)
	}
	f = append(f,
		math.Log2(sin), math.Log2(sout), logMid,
		math.Log2(inPix), math.Log2(outPix),
		float64(b.K), float64(b.Stride),
		boolFeature(b.Act != ""), boolFeature(b.Residual),
	)
	kk := float64(b.K) * float64(b.K)
	var macs, io float64
	switch b.Kind {
	case KindConv:
		macs = outPix * kk * 16 * sin * sout
		io = inPix*sin + outPix*sout
		if b.Residual {
			io += outPix * sout
		}
	case KindResBlock:
		macs = 2 * outPix * kk * 16 * sin * smid
		io = 3*inPix*sin + 2*inPix*smid
	case KindUpsampleAdd:
		io = inPix*sin + 8*inPix*sin
	case KindGuidedFilter:
		io = 3 * inPix * sin
	}
	return append(f, math.Log2(1+macs), math.Log2(1+io))
}

func boolFeature(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// texels is slices(c) = ceil(c/4) as a float.
func texels(c int) float64 { return float64((c + 3) / 4) }
