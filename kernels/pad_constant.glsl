	ivec2 q = p - $SHIFT;
	if (any(lessThan(q, ivec2(0))) || any(greaterThanEqual(q, $SIZE))) return vec4(0.0);
	return $X(q, l);
