package kernels

import (
	"os"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/tflite"
)

// TestAnimeGANPlan plans AnimeGANv2 (layer_norm, reflect pads, depthwise
// convs): each norm adds two statistics passes and is otherwise inlined
// into the next conv's fetch with its activation and pad.
func TestAnimeGANPlan(t *testing.T) {
	path := "../../shared/models/animeganv2_hayao_256_int8.tflite"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s absent", path)
	}
	g, err := tflite.ImportFile(path, tflite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(g, Options{H: 256, W: 256, Input: InputImage, ToCanvas: true})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, n := range g.Nodes {
		counts[n.Op]++
	}
	stats, stored := 0, 0
	for _, pass := range p.Passes[1:] { // after the input's pass (TestInputPass)
		switch root := g.Node(pass.Nodes[0]); {
		case strings.Contains(p.Programs[pass.Program].Op, "statistics"):
			stats++
		case root.Op != model.OpConv2D:
			stored++
			t.Logf("stored: %v", pass.Nodes)
		}
	}
	t.Logf("%d passes (%d statistics, %d storing a norm or add), %d programs, %d KiB of textures",
		len(p.Passes), stats, stored, len(p.Programs), p.TextureBytes()>>10)
	if stats != 2*counts[model.OpLayerNorm] {
		t.Errorf("statistics passes: %d, want 2 per layer_norm (%d)", stats, 2*counts[model.OpLayerNorm])
	}
	if want := 1 + counts[model.OpConv2D] + stats + stored; len(p.Passes) != want {
		t.Errorf("passes: %d, want %d", len(p.Passes), want)
	}
}
