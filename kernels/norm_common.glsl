vec4 laneCount(int l0) {
	return vec4(clamp((ivec4(CH) - ivec4(0, 1, 2, 3) + 3) / 4, l0, l0 + NL) - l0);
}
vec4 split(vec4 v) {
	vec4 h = vec4(unpackHalf2x16(packHalf2x16(v.xy)), unpackHalf2x16(packHalf2x16(v.zw)));
	return mix(v, h, lessThan(abs(v), vec4(65504.0))); // a select: h may be inf
}
