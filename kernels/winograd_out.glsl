// Winograd output transform (winograd.go): each fragment computes output
// layers LAYER0 + k at the adjacent output pixels OUTPOS + (i, 0), row a
// of the tiles they lie in, as row a of A^T M A (tile (x, y) in M's slot
// y*ACROSS + x counted along rows TILES wide); then the conv's bias,
// activation and epilogue.
$AT
void main() {
	ivec2 p = OUTPOS;
	int l$k = LAYER0 + $k;
	int a = p.y % $M;
	ivec2 tile = ivec2(p.x / $M, p.y / $M);
	vec4 bias$k = BIAS(l$k);
$ROWS
	ivec2 q$i = p + ivec2($i, 0);
	o$o = put(epi(ACT(y$k_$i + bias$k), q$i, l$k), l$k);
}
