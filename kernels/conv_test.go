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
	use := regexp.MustCompile(`acc\$k_(\d+) \+= m\$k \* u(\d+);`)
	tap := regexp.MustCompile(`WY \+ \(ky \* KW \+ (\d+)\)`)
	for _, c := range []struct{ pixels, kw, stride, dil, fetches int }{
		{4, 3, 1, 1, 6},  // 4 pixels x 3 taps = 12 reads of 6 columns
		{4, 7, 1, 1, 10}, // 28 reads of 10
		{4, 3, 2, 1, 9},  // stride 2: columns 0..8
		{4, 1, 2, 1, 4},  // 1x1 stride 2: columns 0, 2, 4, 6 only
		{1, 3, 1, 2, 3},  // dilation 2: columns 0, 2, 4
		{8, 3, 1, 1, 10},
	} {
		src := convRow(c.pixels, c.kw, c.stride, c.dil)
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
			d, _ := strconv.Atoi(m[2])
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
