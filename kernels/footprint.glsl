// footprint samples the picture t over the footprint of output pixel px
// (integer coordinates, row 0 at the top as t's) of a plan whose pixel is
// inv in t's normalized coordinates. Where t is larger (a camera frame),
// it is the mean of n x n LINEAR taps spread evenly over the pixel, n =
// ceil(t's pixels per output pixel) up to 8 per axis: a shrunk frame is
// filtered, not point-sampled, whose aliasing shimmers from frame to
// frame. At or below one pixel of t per output pixel it is one tap at the
// pixel's centre. internal/photo.Sample computes the same on the CPU.
vec4 footprint(highp sampler2D t, vec2 px, vec2 inv) {
	ivec2 n = clamp(ivec2(ceil(vec2(textureSize(t, 0)) * inv - 0.001)), 1, 8);
	vec2 d = 1.0 / vec2(n);
	vec4 c = vec4(0.0);
	for (int j = 0; j < n.y; j++) {
		for (int i = 0; i < n.x; i++) {
			c += texture(t, (px + (vec2(i, j) + 0.5) * d) * inv);
		}
	}
	return c / float(n.x * n.y);
}
