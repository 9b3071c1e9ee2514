// Winograd products (winograd.go): each fragment computes output layers
// LAYER0 + k at the adjacent positions OUTPOS + (i, 0) of M, all tiles of
// component c: M = sum over the input layers s of U(c, s) V(c, s), every
// weight matrix fetched once for the fragment's tiles.
void main() {
	ivec2 p = OUTPOS;
	int l$k = LAYER0 + $k;
	int c = p.x / TILES;
	int tx = p.x - c * TILES;
	vec4 acc$k_$i = vec4(0.0);
	for (int s = 0; s < INL; s++) {
		int r = WY + c * INL + s;
		vec4 v$i = V(ivec2(tx + $i, s * ROWS + p.y), c);
		mat4 m$k = mat4(W(ivec2(WX + l$k * 4, r)), W(ivec2(WX + l$k * 4 + 1, r)), W(ivec2(WX + l$k * 4 + 2, r)), W(ivec2(WX + l$k * 4 + 3, r)));
		acc$k_$i += m$k * v$i;
	}
	o$o = acc$k_$i;
}
