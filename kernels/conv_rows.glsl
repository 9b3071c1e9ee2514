	for (int ky = 0; ky < KH; ky++) {
		int iy = b.y + ky * DY;
		if (uint(iy) >= uint(INSIZE.y)) continue; // zero padding
		for (int s = 0; s < INL; s++) {
$ROW
		}
	}
