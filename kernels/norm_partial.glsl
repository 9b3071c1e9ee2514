// instance_norm / layer_norm, stage 1: the mean and the variance of one
// tile of the input, per lane (channel), over the NL layers of one
// statistics group (1 layer for instance_norm, all of them for
// layer_norm). Two passes over the tile (mean, then squared deviations
// from it) keep the variance exact even when the mean is large against
// the spread; stage 2 merges the tiles without cancellation. Storing
// means, not sums, keeps every value in fp16 range. A mean is stored as
// two halves of a double-half (split), so fp16 storage keeps it to ~2^-22
// of itself: normalizing divides by the spread, which can be far smaller
// than the mean. Output layers 3g and 3g+1 hold the means of group g,
// layer 3g+2 its variances.
void main() {
	ivec2 lo = ivec2(gl_FragCoord.xy) * TILE;
	ivec2 hi = min(lo + TILE, SIZE);
	int l0 = (u_base / 3) * NL;
	vec4 n = float((hi.x - lo.x) * (hi.y - lo.y)) * laneCount(l0);
	vec4 sum = vec4(0.0);
	for (int l = l0; l < l0 + NL; l++) {
		for (int y = lo.y; y < hi.y; y++) {
			for (int x = lo.x; x < hi.x; x++) {
				sum += X(ivec2(x, y), l);
			}
		}
	}
	vec4 m = sum / max(n, vec4(1.0));
	vec4 sq = vec4(0.0);
	for (int l = l0; l < l0 + NL; l++) {
		// Lanes past the channel count read 0 but hold a non-zero mean in
		// layer_norm's lane pooling: mask them out of the deviations.
		vec4 valid = vec4(lessThan(ivec4(4 * l) + ivec4(0, 1, 2, 3), ivec4(CH)));
		for (int y = lo.y; y < hi.y; y++) {
			for (int x = lo.x; x < hi.x; x++) {
				vec4 d = (X(ivec2(x, y), l) - m) * valid;
				sq += d * d;
			}
		}
	}
	vec4 mh = split(m);
	o0 = mh;
	o1 = m - mh;
	o2 = sq / max(n, vec4(1.0));
}
