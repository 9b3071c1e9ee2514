// guided filter, second pass (He et al., Algorithm 1, steps 4-5): the
// window means of a (layer 0 of AB) and b (layer 1), then
// q = mean(a) * x + mean(b).
void main() {
	ivec2 p = OUTPOS;
	vec4 sa = vec4(0.0), sb = vec4(0.0);
	int n = 0;
	for (int dy = -R; dy <= R; dy++) {
		int yy = p.y + dy;
		if (uint(yy) >= uint(SIZE.y)) continue;
		for (int dx = -R; dx <= R; dx++) {
			ivec2 q = ivec2(p.x + dx, yy);
			if (uint(q.x) >= uint(SIZE.x)) continue;
			sa += AB(q, 0);
			sb += AB(q, 1);
			n++;
		}
	}
	float fn = float(n);
	o0 = put(epi(sa / fn * X(p, 0) + sb / fn, p, 0), 0);
}
