	vec4 c = footprint(timg, min(vec2(p), u_v[$INV].zw), u_v[$INV].xy);
	return mix(vec4(0.0), c * u_v[$K] + u_v[$K1], lessThan(ivec4(0, 1, 2, 3), ivec4($C)));
