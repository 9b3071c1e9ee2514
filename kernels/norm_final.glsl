// instance_norm / layer_norm, stage 2: merges the tiles' statistics
// (Chan et al.: mean = sum n_i m_i / N, var = sum n_i (v_i + (m_i - mean)^2) / N,
// every term positive, so no cancellation) and writes what the consumer's
// fetch needs, per output layer l: texels x=0 and x=3 the mean as a
// double-half (see split), x=1 the scale gamma / sqrt(var + eps), x=2
// beta (from the weight texture). layer_norm pools the lanes too, so its
// statistics are the same for every channel.
vec4 tileCount(ivec2 t) {
	ivec2 lo = t * TILE;
	ivec2 hi = min(lo + TILE, SIZE);
	return vec4(float((hi.x - lo.x) * (hi.y - lo.y)));
}

vec4 tileMean(ivec2 t, int g) {
	return P(t, 3 * g) + P(t, 3 * g + 1);
}

// stats returns the mean and the variance of the group holding layer l.
void stats(int l, out vec4 mean, out vec4 var) {
	int g = l / NL;
	vec4 lanes = laneCount(g * NL);
	vec4 n = vec4(0.0), s = vec4(0.0);
	for (int ty = 0; ty < TILES.y; ty++) {
		for (int tx = 0; tx < TILES.x; tx++) {
			vec4 k = tileCount(ivec2(tx, ty)) * lanes;
			n += k;
			s += k * tileMean(ivec2(tx, ty), g);
		}
	}
	float pooled = dot(s, vec4(1.0)) / dot(n, vec4(1.0));
	mean = POOL ? vec4(pooled) : s / max(n, vec4(1.0));
	vec4 v = vec4(0.0);
	for (int ty = 0; ty < TILES.y; ty++) {
		for (int tx = 0; tx < TILES.x; tx++) {
			vec4 k = tileCount(ivec2(tx, ty)) * lanes;
			vec4 d = tileMean(ivec2(tx, ty), g) - mean;
			v += k * (P(ivec2(tx, ty), 3 * g + 2) + d * d);
		}
	}
	float pooledVar = dot(v, vec4(1.0)) / dot(n, vec4(1.0));
	var = POOL ? vec4(pooledVar) : v / max(n, vec4(1.0));
}

void main() {
	int x = int(gl_FragCoord.x);
	vec4 mean$k, var$k;
	stats(u_base + $k, mean$k, var$k);
	ivec2 w$k = ivec2(WX + u_base + $k, WY);
	vec4 mh$k = split(mean$k);
	o$k = put(x == 0 ? mh$k : x == 1 ? W(w$k) / sqrt(var$k + EPS) : x == 2 ? W(w$k + ivec2(0, 1)) : mean$k - mh$k, u_base + $k);
}
