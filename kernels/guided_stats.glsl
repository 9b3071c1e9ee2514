// guided filter, first pass (He et al., Algorithm 1, steps 1-3): over the
// window, the means of the guide x, the input y, x*y and x*x, each a sum
// divided by the taps inside the image as box_mean divides it; then
// a = cov(x, y) / (var(x) + eps) into layer 0 and b = mean(y) - a*mean(x)
// into layer 1, in the graph's order of operations.
void main() {
	ivec2 p = OUTPOS;
	int l = 0; // the channel layer, for EPS
	vec4 sx = vec4(0.0), sy = vec4(0.0), sxy = vec4(0.0), sxx = vec4(0.0);
	int n = 0;
	for (int dy = -R; dy <= R; dy++) {
		int yy = p.y + dy;
		if (uint(yy) >= uint(SIZE.y)) continue;
		for (int dx = -R; dx <= R; dx++) {
			ivec2 q = ivec2(p.x + dx, yy);
			if (uint(q.x) >= uint(SIZE.x)) continue;
			vec4 x = X(q, 0), y = Y(q, 0);
			sx += x;
			sy += y;
			sxy += x * y;
			sxx += x * x;
			n++;
		}
	}
	float fn = float(n);
	vec4 mx = sx / fn, my = sy / fn;
	vec4 a = (sxy / fn - mx * my) / ((sxx / fn - mx * mx) + EPS);
	vec4 b = my - a * mx;
	o$k = put(LAYER0 + $k == 0 ? a : b, LAYER0 + $k);
}
