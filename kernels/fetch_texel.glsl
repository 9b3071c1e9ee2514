	return texelFetch(t$T, ivec3(p, l), 0);
