	return ($X(p, l) - $S(ivec2(0, 0), l) - $S(ivec2(3, 0), l)) * $S(ivec2(1, 0), l) + $S(ivec2(2, 0), l);
