package latency

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The measured SwiftShader table, its predictor and the whole-network
// timings in testdata belong together: the table covers the full
// catalogue, the predictor says it was fitted on exactly this table, and
// every network is one the predictor can sum.
func TestCommittedSwiftShaderFiles(t *testing.T) {
	dir := filepath.Join("..", "testdata", "latency")
	data, err := os.ReadFile(filepath.Join(dir, "swiftshader_fp32.json"))
	if err != nil {
		t.Fatal(err)
	}
	table, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.Device.Renderer, "SwiftShader") || table.Device.Precision != PrecisionFP32 {
		t.Errorf("device %+v: want SwiftShader, fp32", table.Device)
	}
	have := map[string]bool{}
	for _, r := range table.Rows {
		have[r.Block.Key()] = true
	}
	for _, b := range FullCatalog() {
		if !have[b.Key()] {
			t.Errorf("catalogue block %s has no row", b.Key())
		}
	}
	pf, err := os.Open(filepath.Join(dir, "swiftshader_fp32_predictor.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	m, err := ReadMLP(pf)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := table.Hash()
	if err != nil {
		t.Fatal(err)
	}
	if m.Table != hash {
		t.Errorf("predictor fitted on table %s, the committed table is %s", m.Table, hash)
	}
	data, err = os.ReadFile(filepath.Join(dir, "swiftshader_fp32_networks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var nets []struct {
		Arch     Arch    `json:"arch"`
		Size     int     `json:"size"`
		MedianMS float64 `json:"median_ms"`
		Device   Device  `json:"device"`
	}
	if err := json.Unmarshal(data, &nets); err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{} // a network timed in several rounds counts once
	for _, n := range nets {
		distinct[n.Arch.String()] = true
	}
	if len(distinct) < 5 {
		t.Fatalf("%d networks: the issue asks for at least 5", len(distinct))
	}
	for _, n := range nets {
		g, err := n.Arch.Graph()
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.PredictGraph(g, n.Size, n.Size)
		if err != nil || !(p > 0) || !(n.MedianMS > 0) {
			t.Errorf("%s: predicted %v (%v), measured %v", n.Arch, p, err, n.MedianMS)
		}
		if n.Device.Renderer != table.Device.Renderer {
			t.Errorf("%s measured on %q, the table on %q", n.Arch, n.Device.Renderer, table.Device.Renderer)
		}
	}
}
