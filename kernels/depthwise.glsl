// conv2d with one group per channel (depthwise): output layer l reads only
// input layer l, one vec4 of weights per tap (texel (WX + l, WY + tap)),
// the bias in the row after the taps. Like the dense conv, a fragment
// computes adjacent pixels (i = 0, 1, ...) that share each weight fetched.
void main() {
	ivec2 p = OUTPOS;
	int l$k = LAYER0 + $k;
	ivec2 q$i = p + ivec2($i, 0);
	ivec2 b$i = q$i * STRIDE - PAD;
	vec4 acc$k_$i = vec4(0.0);
	for (int ky = 0; ky < KH; ky++) {
		int iy = b0.y + ky * DY;
		if (uint(iy) >= uint(INSIZE.y)) continue; // zero padding
		for (int kx = 0; kx < KW; kx++) {
			int ix$i = b$i.x + kx * DX;
			bool in$i = uint(ix$i) < uint(INSIZE.x);
			int row = WY + ky * KW + kx;
			vec4 w$k = W(ivec2(WX + l$k, row));
			acc$k_$i += (in$i ? X(ivec2(ix$i, iy), l$k) : vec4(0.0)) * w$k;
		}
	}
	vec4 bias$k = W(ivec2(WX + l$k, WY + KH * KW));
	o$o = put(epi(ACT(acc$k_$i + bias$k), q$i, l$k), l$k);
}
