	return texelFetch(t$T, ivec3(p.x >> $SHIFT, p.y, l * $N + (p.x & $MASK)), 0);
