// conv2d, dense: each fragment computes output layers LAYER0 + $k (4
// channels each) at the adjacent output pixels OUTPOS + ($i, 0), so that
// every mat4 of weights fetched feeds all the pixels (the weight reads are
// what a conv costs) and every input texel all the layers. Weights: one
// mat4 per (tap, input layer, output layer), as 4 texels along a row of
// tw; the bias is the row after the taps. The Go side repeats each line
// holding a marker once per layer and pixel (see expand), and unrolls the
// taps of a row (ROW, see convRow) so that each input column the
// fragment's pixels read along the row is fetched once, not once per tap
// and pixel.
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
