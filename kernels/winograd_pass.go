package kernels

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/edgetoon/edgetoon/model"
)

// The GLSL of a Winograd conv's three passes (winograd.go).
var (
	//go:embed winograd_in.glsl
	winogradInSrc string
	//go:embed winograd_mul.glsl
	winogradMulSrc string
	//go:embed winograd_out.glsl
	winogradOutSrc string
)

// winogradIn generates the input transform: a fragment per tile and
// input layer, a draw per component row (its N components, the render
// targets emitGroup gives this pass).
func (b *builder) winogradIn(g *gen, n *model.Node) (string, error) {
	x := b.shapes[n.Inputs[0]]
	top, left, _, _, err := model.ConvPads(n, x[0], x[1], 3, 3)
	if err != nil {
		return "", err
	}
	fn, err := g.fetch(n.Inputs[0])
	if err != nil {
		return "", err
	}
	cols, rows, across := b.winogradTiles(n)
	g.define("X", fn)
	g.define("ROWS", g.int(rows))
	g.define("TILES", g.int(cols))
	g.define("ACROSS", g.int(across))
	g.define("PAD", g.ivec2(left, top))
	g.define("INSIZE", g.ivec2(x[1], x[0]))
	// Row i of B^T weighs only some rows of the window (3 or 4 of 6):
	// the fragment fetches those, their indices and weights looked up by
	// i, the same count for every row, so no branch.
	taps, weights := winogradRowTaps()
	k := len(taps[0])
	var fetch, row strings.Builder
	for t := range k {
		fmt.Fprintf(&fetch, "\tint r%d = b.y + RI[i * %d + %d];\n", t, k, t)
		fmt.Fprintf(&fetch, "\tbool y%d = uint(r%d) < uint(INSIZE.y);\n", t, t)
	}
	for c := range winogradN {
		fmt.Fprintf(&fetch, "\tbool x%d = uint(b.x + %d) < uint(INSIZE.x);\n", c, c)
	}
	for t := range k {
		for c := range winogradN {
			fmt.Fprintf(&fetch, "\tvec4 d%d_%d = y%d && x%d ? X(ivec2(b.x + %d, r%d), s) : vec4(0.0);\n", t, c, t, c, c, t)
		}
	}
	// Row i of B^T d (i varies by draw), then its columns by B.
	for c := range winogradN {
		var terms []string
		for t := range k {
			terms = append(terms, fmt.Sprintf("BT[i * %d + %d] * d%d_%d", k, t, t, c))
		}
		fmt.Fprintf(&row, "\tvec4 e%d = %s;\n", c, strings.Join(terms, " + "))
	}
	for j := range winogradN {
		fmt.Fprintf(&row, "\to%d = %s;\n", j, combination(winogradBT[j], "e%d"))
	}
	ri := make([]string, 0, winogradN*k)
	for _, r := range taps {
		for _, t := range r {
			ri = append(ri, fmt.Sprint(t))
		}
	}
	tables := constArray("BT", weights) + fmt.Sprintf("const int RI[%d] = int[](%s);\n", len(ri), strings.Join(ri, ", "))
	return fill(winogradInSrc, "BT", tables, "N", fmt.Sprint(winogradN),
		"M", fmt.Sprint(winogradM), "FETCH", bodyOf(fetch.String()), "ROW", bodyOf(row.String())), nil
}

// winogradRowTaps returns, for each row of B^T, the rows of the input
// window it weighs and their weights, padded to the longest row's count
// with rows it does not weigh (weight 0, still inside the window).
func winogradRowTaps() (taps [][]int, weights [][]float64) {
	k := 0
	for _, r := range winogradBT {
		n := 0
		for _, v := range r {
			if v != 0 {
				n++
			}
		}
		k = max(k, n)
	}
	for _, r := range winogradBT {
		var t []int
		var w []float64
		for j, v := range r {
			if v != 0 {
				t, w = append(t, j), append(w, v)
			}
		}
		for j := 0; len(t) < k; j++ {
			if r[j] == 0 {
				t, w = append(t, j), append(w, 0)
			}
		}
		taps, weights = append(taps, t), append(weights, w)
	}
	return taps, weights
}

// winogradMul generates the products, its weights placed (the direct
// conv's block first, as conv places them, then the transformed one).
func (b *builder) winogradMul(g *gen, n *model.Node) (string, error) {
	x := b.shapes[n.Inputs[0]]
	direct, wino, err := b.denseWeights(n)
	if err != nil {
		return "", err
	}
	b.winoBias[n.Name] = direct
	fn, err := g.fetch(n.Name + winoVSuffix)
	if err != nil {
		return "", err
	}
	cols, rows, _ := b.winogradTiles(n)
	g.weights = true
	g.define("V", fn)
	g.define("ROWS", g.int(rows))
	wx, wy := g.corner(wino, 0, 0)
	g.define("WX", wx)
	g.define("WY", wy)
	g.define("INL", fmt.Sprint(layers(x[2])))
	g.define("CW", fmt.Sprint(4*layers(b.shapes[n.Name][2])))
	// The tiles are a uniform, as every size: a plan of another size
	// shares the program (the engine compiles them on a small plan).
	g.define("TILES", g.int(cols))
	return fill(winogradMulSrc, "N", fmt.Sprint(winogradN)), nil
}

// winogradOut generates the output transform: outputs/pixels output
// layers of pixels adjacent pixels a fragment, pixels a multiple of the
// tile's side (winograd checks ConvPixels).
func (b *builder) winogradOut(g *gen, n *model.Node, outputs int) (string, error) {
	x := b.shapes[n.Inputs[0]]
	fn, err := g.fetch(n.Name + winoMSuffix)
	if err != nil {
		return "", err
	}
	bias, ok := b.winoBias[n.Name]
	if !ok {
		return "", fmt.Errorf("winograd output transform before its products")
	}
	cols, _, across := b.winogradTiles(n)
	g.weights = true
	g.define("MUL", fn)
	g.define("TILES", g.int(cols))
	g.define("ACROSS", g.int(across))
	bx, by := g.corner(bias, 0, 9*layers(x[2]))
	g.define("BIAS(l)", fmt.Sprintf("W(ivec2(%s + (l) * 4, %s))", bx, by))
	actMacro(g, n)
	var rows strings.Builder
	// The M slot of each of the fragment's tiles, shared by its layers.
	for q := range g.pixels / winogradM {
		fmt.Fprintf(&rows, "\tint t%d = tile.y * ACROSS + tile.x + %d;\n\tivec2 s%d = ivec2(t%d %% TILES, t%d / TILES);\n", q, q, q, q, q)
	}
	for k := range outputs / g.pixels {
		for q := range g.pixels / winogradM {
			for i := range winogradN {
				for j := range winogradN {
					fmt.Fprintf(&rows, "\tvec4 m%d_%d_%d_%d = MUL(ivec2(%d * TILES + s%d.x, s%d.y), l%d);\n", k, q, i, j, i*winogradN+j, q, q, k)
				}
			}
			for j := range winogradN {
				var terms []string
				for i := range winogradN {
					terms = append(terms, fmt.Sprintf("AT[a * %d + %d] * m%d_%d_%d_%d", winogradN, i, k, q, i, j))
				}
				fmt.Fprintf(&rows, "\tvec4 r%d_%d_%d = %s;\n", k, q, j, strings.Join(terms, " + "))
			}
			for c := range winogradM {
				fmt.Fprintf(&rows, "\tvec4 y%d_%d = %s;\n", k, q*winogradM+c, combination(winogradAT[c], fmt.Sprintf("r%d_%d_%%d", k, q)))
			}
		}
	}
	return fill(winogradOutSrc, "AT", constArray("AT", winogradAT), "M", fmt.Sprint(winogradM),
		"ROWS", bodyOf(rows.String())), nil
}
