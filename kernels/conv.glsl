// conv2d, dense: each fragment computes OUTPUTS consecutive output layers
// (4 channels each) at one pixel, so every input texel fetched feeds
// 4*OUTPUTS channels. Weights: one mat4 per (tap, input layer, output
// layer), as 4 texels along a row of tw; the bias is the row after the
// taps. The Go side repeats each line holding the output marker once per
// output (see expand).
void main() {
	ivec2 p = OUTPOS;
	ivec2 o = p * STRIDE - PAD;
	vec4 acc$k = vec4(0.0);
	for (int ky = 0; ky < KH; ky++) {
		int iy = o.y + ky * DY;
		if (uint(iy) >= uint(INSIZE.y)) continue; // zero padding
		for (int kx = 0; kx < KW; kx++) {
			int ix = o.x + kx * DX;
			if (uint(ix) >= uint(INSIZE.x)) continue;
			int row = WY + (ky * KW + kx) * INL;
			for (int s = 0; s < INL; s++) {
				vec4 v = X(ivec2(ix, iy), s);
				ivec2 w$k = ivec2(WX + (u_base + $k) * 4, row + s);
				acc$k += mat4(W(w$k), W(w$k + ivec2(1, 0)), W(w$k + ivec2(2, 0)), W(w$k + ivec2(3, 0))) * v;
			}
		}
	}
	int brow = WY + KH * KW * INL;
	o$k = put(epi(ACT(acc$k + W(ivec2(WX + (u_base + $k) * 4, brow))), p, u_base + $k), u_base + $k);
}
