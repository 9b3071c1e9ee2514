// conv2d with shared rows (Options.ConvShareRows): conv.glsl's pass, but
// the loop over a row's taps is unrolled by the Go side ($ROW, see
// convRow), so that each input column the fragment's pixels read along
// a row is fetched once and named, not once per tap and pixel.
void main() {
	ivec2 p = OUTPOS;
	int l$k = LAYER0 + $k;
	ivec2 q$i = p + ivec2($i, 0);
	ivec2 b = p * STRIDE - PAD;
	vec4 acc$k_$i = vec4(0.0);
	for (int ky = 0; ky < KH; ky++) {
		int iy = b.y + ky * DY;
		if (uint(iy) >= uint(INSIZE.y)) continue; // zero padding
		for (int s = 0; s < INL; s++) {
$ROW
		}
	}
	int brow = WY + KH * KW * INL;
	vec4 bias$k = W(ivec2(WX + l$k * 4, brow));
	o$o = put(epi(ACT(acc$k_$i + bias$k), q$i, l$k), l$k);
}
