// A pass that stores an elementwise value (or resize, pad, concat): the
// whole computation is in the fetch function X and the epilogue. Stored
// in a texture it computes the same adjacent pixels per fragment as a conv
// (OUTPOS + (i, 0)), so the conv reading it fetches the layout it would
// read from another conv.
void main() {
	ivec2 p = OUTPOS;
	int l$k = LAYER0 + $k;
	ivec2 q$i = p + ivec2($i, 0);
	o$o = put(epi(X(q$i, l$k), q$i, l$k), l$k);
}
