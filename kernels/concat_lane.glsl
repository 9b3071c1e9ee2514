		if (c >= $LO && c < $HI) { int d = c - $LO; r[j] = $X(p, d / 4)[d % 4]; }
