// Winograd input transform (winograd.go): the fragment's tile t of input
// layer s (the layers' tiles stacked along y, ROWS apart); the draw
// writes component row i of V = B^T d B, d the tile's N x N input window
// (zero outside the input), one component a render target.
$BT
void main() {
	ivec2 f = ivec2(gl_FragCoord.xy);
	int s = f.y / ROWS;
	ivec2 t = ivec2(f.x, f.y - s * ROWS);
	int i = u_base / $N;
	ivec2 b = t * $M - PAD;
$FETCH
$ROW
}
