// conv2d, dense: each fragment computes output layers LAYER0 + k (4
// channels each) at the adjacent output pixels OUTPOS + (i, 0), so that
// every weight feeds all the pixels and every input texel all the
// layers. TAPS adds every tap's products to the accumulators: loops over
// the rows and input layers fetching the weights from tw (conv_rows.glsl),
// or every tap and input layer unrolled with the weights as literals
// (conv_baked.go). BIAS(l, k) is the bias of output layer l, the
// fragment's k-th.
void main() {
	ivec2 p = OUTPOS;
	int l$k = LAYER0 + $k;
	ivec2 q$i = p + ivec2($i, 0);
	ivec2 b = p * STRIDE - PAD;
	vec4 acc$k_$i = vec4(0.0);
$TAPS
	vec4 bias$k = BIAS(l$k, $k);
	o$o = put(epi(ACT(acc$k_$i + bias$k), q$i, l$k), l$k);
}
