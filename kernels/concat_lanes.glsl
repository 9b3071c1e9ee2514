	vec4 r = vec4(0.0);
	for (int j = 0; j < 4; j++) {
		int c = 4 * l + j;
$LANES
	}
	return r;
