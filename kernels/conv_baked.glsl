// conv2d with its weights in the program (conv_baked.go): each fragment
// computes every output layer of the conv ($k) at the adjacent output
// pixels OUTPOS + ($i, 0) in one draw, so that every input texel it
// fetches feeds all of them. The Go side unrolls every tap and input
// layer (ROWS) with the weights and the bias (BIAS$k) as literals: a
// constant operand costs no texture fetch.
void main() {
	ivec2 p = OUTPOS;
	int l$k = LAYER0 + $k;
	ivec2 q$i = p + ivec2($i, 0);
	ivec2 b = p * STRIDE - PAD;
	vec4 acc$k_$i = vec4(0.0);
$ROWS
	o$o = put(epi(ACT(acc$k_$i + BIAS$k), q$i, l$k), l$k);
}
