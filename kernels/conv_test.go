package kernels

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// TestConvRow checks the unrolled row of conv.glsl: one fetch per
// distinct input column the fragment's pixels read, and each tap of each
// pixel reading the column it would have fetched itself.
func TestConvRow(t *testing.T) {
	fetch := regexp.MustCompile(`vec4 u(\d+) = uint\(b\.x \+ (\d+)\)`)
	use := regexp.MustCompile(`acc\$k_(\d+)(\.[xyzw]+)? \+= .*\bu(\d+)\b`)
	tap := regexp.MustCompile(`WY \+ \(ky \* KW \+ (\d+)\)`)
	for _, c := range []struct{ pixels, kw, stride, dil, fetches int }{
		{4, 3, 1, 1, 6},  // 4 pixels x 3 taps = 12 reads of 6 columns
		{4, 7, 1, 1, 10}, // 28 reads of 10
		{4, 3, 2, 1, 9},  // stride 2: columns 0..8
		{4, 1, 2, 1, 4},  // 1x1 stride 2: columns 0, 2, 4, 6 only
		{1, 3, 1, 2, 3},  // dilation 2: columns 0, 2, 4
		{8, 3, 1, 1, 10},
	} {
		src := convRow(c.pixels, c.kw, c.stride, c.dil, tapShape{4, 4})
		var cols []int
		for _, m := range fetch.FindAllStringSubmatch(src, -1) {
			if m[1] != m[2] {
				t.Errorf("%+v: u%s fetches column %s", c, m[1], m[2])
			}
			d, _ := strconv.Atoi(m[1])
			cols = append(cols, d)
		}
		if len(cols) != c.fetches {
			t.Errorf("%+v: %d fetches %v, want %d", c, len(cols), cols, c.fetches)
		}
		kx := -1
		reads := 0
		for _, line := range regexp.MustCompile("\n").Split(src, -1) {
			if m := tap.FindStringSubmatch(line); m != nil {
				kx, _ = strconv.Atoi(m[1])
				continue
			}
			m := use.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			i, _ := strconv.Atoi(m[1])
			d, _ := strconv.Atoi(m[3])
			if want := i*c.stride + kx*c.dil; d != want || !slices.Contains(cols, d) {
				t.Errorf("%+v: pixel %d tap %d reads u%d, want u%d (fetched: %v)", c, i, kx, d, want, cols)
			}
			reads++
		}
		if reads != c.pixels*c.kw {
			t.Errorf("%+v: %d reads, want %d", c, reads, c.pixels*c.kw)
		}
	}
}

// TestTapShape checks the GLSL of one tap for inputs and outputs of 1-4
// channels: the weights' type, the texels fetched, the product and the
// accumulator lanes it adds to (hand-written; TestKernels in
// wasm/browsertest runs them against the CPU engine).
func TestTapShape(t *testing.T) {
	w := func(j int) string { return "W(w$k + ivec2(" + strconv.Itoa(j) + ", 0))" }
	for _, c := range []struct {
		sh                      tapShape
		mat, cols, product, dst string
	}{
		{tapShape{4, 4}, "mat4", w(0) + ", " + w(1) + ", " + w(2) + ", " + w(3), "m$k * u5", ""},
		{tapShape{3, 4}, "mat3x4", w(0) + ", " + w(1) + ", " + w(2), "m$k * u5.xyz", ""},
		{tapShape{1, 4}, "vec4", w(0), "m$k * u5.x", ""},
		{tapShape{4, 3}, "mat3x4", w(0) + ", " + w(1) + ", " + w(2), "u5 * m$k", ".xyz"},
		{tapShape{4, 1}, "vec4", w(0), "dot(u5, m$k)", ".x"},
		{tapShape{3, 3}, "mat3", w(0) + ".xyz, " + w(1) + ".xyz, " + w(2) + ".xyz", "u5.xyz * m$k", ".xyz"},
		{tapShape{2, 1}, "vec2", w(0) + ".xy", "dot(u5.xy, m$k)", ".x"},
		{tapShape{1, 2}, "vec2", w(0) + ".x, " + w(1) + ".x", "u5.x * m$k", ".xy"},
		{tapShape{1, 1}, "float", w(0) + ".x", "u5.x * m$k", ".x"},
		{tapShape{2, 4}, "mat2x4", w(0) + ", " + w(1), "m$k * u5.xy", ""},
	} {
		if got := c.sh.mat(); got != c.mat {
			t.Errorf("%+v: mat %q, want %q", c.sh, got, c.mat)
		}
		if got := c.sh.cols(); got != c.cols {
			t.Errorf("%+v: cols %q, want %q", c.sh, got, c.cols)
		}
		if got := c.sh.product(5); got != c.product {
			t.Errorf("%+v: product %q, want %q", c.sh, got, c.product)
		}
		if got := c.sh.dst(); got != c.dst {
			t.Errorf("%+v: dst %q, want %q", c.sh, got, c.dst)
		}
	}
}
