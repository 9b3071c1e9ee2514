// Winograd input transform (winograd.go): the fragment's slot of input
// layer s (the layers' slots stacked along y, ROWS apart) holds tile t,
// slot y*TILES + x being tile y*ACROSS + x counted along the image's
// rows (slots past the last tile hold what they compute); the draw
// writes component row i of V = B^T d B, d the tile's N x N input window
// (zero outside the input), one component a render target, fetching only
// the window's rows that row i of B^T weighs (RI, their weights BT).
$BT
void main() {
	ivec2 f = ivec2(gl_FragCoord.xy);
	int s = f.y / ROWS;
	int slot = (f.y - s * ROWS) * TILES + f.x;
	ivec2 t = ivec2(slot % ACROSS, slot / ACROSS);
	int i = u_base / $N;
	ivec2 b = t * $M - PAD;
$FETCH
$ROW
}
