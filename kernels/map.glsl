// A pass that stores an elementwise value (or resize, pad, concat): the
// whole computation is in the fetch function X and the epilogue.
void main() {
	ivec2 p = OUTPOS;
	o$k = put(epi(X(p, u_base + $k), p, u_base + $k), u_base + $k);
}
