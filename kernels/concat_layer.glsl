	if (l < $END) return $X(p, l - $OFF);
