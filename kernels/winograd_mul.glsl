// Winograd products (winograd.go): each fragment computes output layers
// LAYER0 + k at the adjacent positions OUTPOS + (i, 0) of M, all tiles of
// component c: M = sum over the input layers s of U(c, s) V(c, s), every
// weight matrix fetched once for the fragment's tiles (U's block a grid
// of N x N components, CW texels wide each, INL rows tall).
void main() {
	ivec2 p = OUTPOS;
	int l$k = LAYER0 + $k;
	int c = p.x / TILES;
	int tx = p.x - c * TILES;
	vec4 acc$k_$i = vec4(0.0);
	int ci = c / $N;
	int wx$k = WX + (c - ci * $N) * CW + l$k * 4;
	for (int s = 0; s < INL; s++) {
		int r = WY + ci * INL + s;
		vec4 v$i = V(ivec2(tx + $i, s * ROWS + p.y), c);
		mat4 m$k = mat4(W(ivec2(wx$k, r)), W(ivec2(wx$k + 1, r)), W(ivec2(wx$k + 2, r)), W(ivec2(wx$k + 3, r)));
		acc$k_$i += m$k * v$i;
	}
	o$o = acc$k_$i;
}
