// conv2d with one group per channel (depthwise): output layer l reads only
// input layer l, one vec4 of weights per tap (texel (WX + l, WY + tap)),
// the bias in the row after the taps.
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
			int row = WY + ky * KW + kx;
			acc$k += X(ivec2(ix, iy), u_base + $k) * W(ivec2(WX + u_base + $k, row));
		}
	}
	o$k = put(epi(ACT(acc$k + W(ivec2(WX + u_base + $k, WY + KH * KW))), p, u_base + $k), u_base + $k);
}
