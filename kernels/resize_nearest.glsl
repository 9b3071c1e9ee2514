	ivec2 q = min(ivec2(floor(vec2(p) * u_v[$K].xy + u_v[$K].zw + $HALF)), $SIZE - 1);
	return $X(q, l);
