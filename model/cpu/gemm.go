package cpu

// gemm computes, for each of the n rows of a (row i at a[i*k:(i+1)*k])
// and each of the m rows of w (row j at w[j*k:(j+1)*k]), the dot product
// plus bias[j] (when bias is not nil), and stores it at out[i*ldo+j].
//
// The work is done in tiles of 2 rows of a by 4 rows of w held in eight
// scalar accumulators: each loaded value feeds several multiply-adds,
// which keeps the scalar loop from being bound by loads. (Bigger tiles
// measured slower in BenchmarkConv3x3_128: amd64 has too few registers
// and spills.) Every
// result is a single accumulator summed in k order, whichever tile or
// edge loop computes it, so results do not depend on how callers split
// rows.
func gemm(a []float32, n, k int, w []float32, m int, bias []float32, out []float32, ldo int) {
	i := 0
	for ; i+2 <= n; i += 2 {
		a0 := a[i*k : i*k+k]
		a1 := a[(i+1)*k:][:len(a0)]
		j := 0
		for ; j+4 <= m; j += 4 {
			// Slicing to len(a0) lets the compiler drop the bounds
			// checks from the inner loop.
			w0 := w[j*k:][:len(a0)]
			w1 := w[(j+1)*k:][:len(a0)]
			w2 := w[(j+2)*k:][:len(a0)]
			w3 := w[(j+3)*k:][:len(a0)]
			var s00, s01, s02, s03, s10, s11, s12, s13 float32
			for t, x0 := range a0 {
				x1 := a1[t]
				y0, y1, y2, y3 := w0[t], w1[t], w2[t], w3[t]
				s00 += x0 * y0
				s01 += x0 * y1
				s02 += x0 * y2
				s03 += x0 * y3
				s10 += x1 * y0
				s11 += x1 * y1
				s12 += x1 * y2
				s13 += x1 * y3
			}
			if bias != nil {
				b := bias[j : j+4]
				s00, s01, s02, s03 = s00+b[0], s01+b[1], s02+b[2], s03+b[3]
				s10, s11, s12, s13 = s10+b[0], s11+b[1], s12+b[2], s13+b[3]
			}
			o := out[i*ldo+j : i*ldo+j+4]
			o[0], o[1], o[2], o[3] = s00, s01, s02, s03
			o = out[(i+1)*ldo+j : (i+1)*ldo+j+4]
			o[0], o[1], o[2], o[3] = s10, s11, s12, s13
		}
		for ; j < m; j++ {
			out[i*ldo+j] = dotBias(a0, w[j*k:j*k+k], bias, j)
			out[(i+1)*ldo+j] = dotBias(a1, w[j*k:j*k+k], bias, j)
		}
	}
	for ; i < n; i++ {
		ar := a[i*k : i*k+k]
		for j := range m {
			out[i*ldo+j] = dotBias(ar, w[j*k:j*k+k], bias, j)
		}
	}
}

// dotBias is the edge case of gemm: one accumulator, k order.
func dotBias(a, w []float32, bias []float32, j int) float32 {
	w = w[:len(a)]
	var s float32
	for t, x := range a {
		s += x * w[t]
	}
	if bias != nil {
		return s + bias[j]
	}
	return s
}
