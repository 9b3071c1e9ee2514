	ivec2 q = abs(p - $SHIFT);
	ivec2 e = $SIZE - 1;
	return $X(e - abs(e - q), l);
