// box_mean: the mean over the (2R+1)^2 window, counting only the taps
// inside the image (borders divide by fewer taps).
void main() {
	ivec2 p = OUTPOS;
	vec4 sum$k = vec4(0.0);
	int n = 0;
	for (int dy = -R; dy <= R; dy++) {
		int y = p.y + dy;
		if (uint(y) >= uint(SIZE.y)) continue;
		for (int dx = -R; dx <= R; dx++) {
			int x = p.x + dx;
			if (uint(x) >= uint(SIZE.x)) continue;
			n++;
			sum$k += X(ivec2(x, y), u_base + $k);
		}
	}
	o$k = put(epi(ACT(sum$k / float(n)), p, u_base + $k), u_base + $k);
}
