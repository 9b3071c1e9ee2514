package latency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated files: testdata/latency/synthetic_*.json, train/latency_features.json")

// validTable is a small well-formed table, as a profiler would send it.
const validTable = `{
  "schema": "edgetoon-latency/1",
  "device": {"user_agent": "Mozilla/5.0 (test)", "renderer": "ANGLE (test)", "vendor": "Google Inc.",
             "precision": "fp32", "timer": "fence", "date": "2026-11-30T12:00:00Z"},
  "rows": [
    {"block": {"kind": "conv", "k": 3, "stride": 1, "cin": 16, "cout": 32, "h": 64, "w": 64, "act": "leaky_relu"},
     "median_ms": 1.5, "p10_ms": 1.25, "p90_ms": 2, "reps": 20},
    {"block": {"kind": "resblock", "k": 3, "stride": 1, "cin": 32, "cout": 32, "mid": 16, "h": 32, "w": 32, "act": "leaky_relu"},
     "median_ms": 0.75, "p10_ms": 0.75, "p90_ms": 0.75, "reps": 1},
    {"block": {"kind": "guided_filter", "k": 3, "cin": 3, "cout": 3, "h": 64, "w": 64},
     "median_ms": 0.5, "p10_ms": 0.25, "p90_ms": 1, "reps": 5}
  ]
}`

func TestParseValid(t *testing.T) {
	tab, err := Parse([]byte(validTable))
	if err != nil {
		t.Fatal(err)
	}
	want := Row{Block: Block{Kind: KindConv, K: 3, Stride: 1, Cin: 16, Cout: 32, H: 64, W: 64, Act: leaky},
		MedianMS: 1.5, P10MS: 1.25, P90MS: 2, Reps: 20}
	if len(tab.Rows) != 3 || tab.Rows[0] != want {
		t.Fatalf("rows %+v, want 3 starting with %+v", tab.Rows, want)
	}
	if tab.Device.Renderer != "ANGLE (test)" || tab.Device.Timer != TimerFence {
		t.Errorf("device %+v", tab.Device)
	}
	if _, err := Read(strings.NewReader(validTable)); err != nil {
		t.Errorf("Read: %v", err)
	}
}

// mutate returns validTable with old replaced by new, once.
func mutate(t *testing.T, old, new string) string {
	t.Helper()
	if strings.Count(validTable, old) < 1 {
		t.Fatalf("validTable has no %q", old)
	}
	return strings.Replace(validTable, old, new, 1)
}

func TestParseRejects(t *testing.T) {
	row0 := `"median_ms": 1.5, "p10_ms": 1.25, "p90_ms": 2, "reps": 20`
	cases := []struct{ name, data, want string }{
		{"not JSON", "{", "unexpected end"},
		{"array", "[]", "cannot unmarshal array"},
		{"no schema", mutate(t, `"schema": "edgetoon-latency/1",`, ``), "no schema"},
		{"wrong schema", mutate(t, `edgetoon-latency/1`, `edgetoon-latency/2`), `schema "edgetoon-latency/2"`},
		{"unknown top field", mutate(t, `"rows"`, `"extra": 1, "rows"`), `unknown field "extra"`},
		{"unknown row field", mutate(t, `"reps": 20`, `"reps": 20, "mean_ms": 1`), `unknown field "mean_ms"`},
		{"unknown block field", mutate(t, `"kind": "conv",`, `"kind": "conv", "groups": 2,`), `unknown field "groups"`},
		{"trailing data", validTable + "{}", "after top-level value"},
		{"NaN token", mutate(t, `"median_ms": 1.5`, `"median_ms": NaN`), "invalid character"},
		{"NaN string", mutate(t, `"median_ms": 1.5`, `"median_ms": "NaN"`), "cannot unmarshal string"},
		{"overflowing number", mutate(t, `"median_ms": 1.5`, `"median_ms": 1e999`), "median_ms"},
		{"negative latency", mutate(t, row0, `"median_ms": -1.5, "p10_ms": -2, "p90_ms": 2, "reps": 20`), "row 0 (conv k3 s1 16->32 @64x64 leaky_relu): median_ms -1.5"},
		{"zero latency", mutate(t, `"p10_ms": 1.25`, `"p10_ms": 0`), "row 0 (conv k3 s1 16->32 @64x64 leaky_relu): p10_ms 0"},
		{"null latency", mutate(t, `"p90_ms": 2`, `"p90_ms": null`), "row 0 (conv k3 s1 16->32 @64x64 leaky_relu): p90_ms 0"},
		{"absurd latency", mutate(t, `"p90_ms": 2`, `"p90_ms": 1e9`), "p90_ms 1e+09"},
		{"median below p10", mutate(t, `"p10_ms": 1.25`, `"p10_ms": 1.75`), "row 0 (conv k3 s1 16->32 @64x64 leaky_relu): p10_ms 1.75, median_ms 1.5, p90_ms 2"},
		{"median above p90", mutate(t, `"p90_ms": 2`, `"p90_ms": 1.4`), "want p10 <= median <= p90"},
		{"zero reps", mutate(t, `"reps": 1`, `"reps": 0`), "row 1 (resblock k3 32/16 @32x32 leaky_relu): reps 0"},
		{"fractional reps", mutate(t, `"reps": 1`, `"reps": 1.5`), "cannot unmarshal number 1.5"},
		{"duplicate configuration", strings.Replace(validTable, `"kind": "resblock", "k": 3, "stride": 1, "cin": 32, "cout": 32, "mid": 16, "h": 32, "w": 32`,
			`"w": 64, "kind": "conv", "k": 3, "stride": 1, "cin": 16, "cout": 32, "h": 64`, 1), "row 1 (conv k3 s1 16->32 @64x64 leaky_relu): same configuration as row 0"},
		{"unknown kind", mutate(t, `"kind": "conv"`, `"kind": "matmul"`), `row 0: block "matmul"`},
		{"bad kernel", mutate(t, `"k": 3, "stride": 1, "cin": 16`, `"k": 4, "stride": 1, "cin": 16`), "row 0: block conv k4 s1 16->32 @64x64 leaky_relu: k 4: must be odd"},
		{"big kernel", mutate(t, `"k": 3, "stride": 1, "cin": 16`, `"k": 9, "stride": 1, "cin": 16`), "k 9: out of range 1..7"},
		{"stride 3", mutate(t, `"k": 3, "stride": 1, "cin": 16`, `"k": 3, "stride": 3, "cin": 16`), "stride 3: out of range 1..2"},
		{"zero channels", mutate(t, `"cin": 16`, `"cin": 0`), "cin 0: out of range 1..1024"},
		{"huge channels", mutate(t, `"cout": 32, "h": 64`, `"cout": 99999, "h": 64`), "cout 99999: out of range"},
		{"negative height", mutate(t, `"h": 64, "w": 64, "act"`, `"h": -64, "w": 64, "act"`), "h -64: out of range"},
		{"huge width", mutate(t, `"h": 64, "w": 64, "act"`, `"h": 64, "w": 100000, "act"`), "w 100000: out of range"},
		{"bad act", mutate(t, `"act": "leaky_relu"}`, `"act": "gelu"}`), `act "gelu"`},
		{"resblock stride", mutate(t, `"kind": "resblock", "k": 3, "stride": 1`, `"kind": "resblock", "k": 3, "stride": 2`), `row 1: block "resblock" k3 s2 32->32 mid16 @32x32 leaky_relu: stride 2`},
		{"resblock cout", mutate(t, `"cout": 32, "mid"`, `"cout": 16, "mid"`), "cout 16: must equal cin 32"},
		{"resblock no mid", mutate(t, `"mid": 16`, `"mid": 0`), "mid 0: out of range"},
		{"flag on filter", mutate(t, `"cin": 3, "cout": 3`, `"cin": 3, "cout": 3, "residual": true`), "residual applies to conv only"},
		{"even window", mutate(t, `"kind": "guided_filter", "k": 3`, `"kind": "guided_filter", "k": 4`), "k 4: must be odd"},
		{"no rows", mutate(t, `"rows": [`, `"rows": [], "x": [`), `unknown field "x"`},
		{"empty rows", `{"schema": "edgetoon-latency/1", "device": {"user_agent": "a", "precision": "fp16", "timer": "disjoint_timer_query", "date": "2026-11-30T12:00:00+01:00"}, "rows": []}`, "no rows"},
		{"no user agent", mutate(t, `"Mozilla/5.0 (test)"`, `""`), "device: user_agent: empty"},
		{"long renderer", mutate(t, `"ANGLE (test)"`, `"`+strings.Repeat("x", 513)+`"`), "device: renderer: longer than 512"},
		{"control character", mutate(t, `"ANGLE (test)"`, `"ANGLE\u001b[31m"`), "device: renderer: control characters"},
		{"precision", mutate(t, `"fp32"`, `"fp64"`), `device: precision "fp64"`},
		{"timer", mutate(t, `"fence"`, `"performance.now"`), `device: timer "performance.now"`},
		{"date", mutate(t, `"2026-11-30T12:00:00Z"`, `"yesterday"`), `device: date "yesterday"`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// encoding/json keeps the last of repeated keys; the canonical form then
// shows the value that was used, so the hash names what was read.
func TestParseRepeatedKey(t *testing.T) {
	tab, err := Parse([]byte(mutate(t, `"reps": 20`, `"reps": 20, "reps": 21`)))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows[0].Reps != 21 {
		t.Errorf("reps %d, want the last value 21", tab.Rows[0].Reps)
	}
}

func TestParseLimits(t *testing.T) {
	// Too many rows: MaxRows+1 distinct configurations.
	var rows []string
	for i := range MaxRows + 1 {
		rows = append(rows, `{"block":{"kind":"conv","k":1,"stride":1,"cin":`+itoa(1+i%1024)+`,"cout":`+itoa(1+i/1024)+`,"h":8,"w":8},"median_ms":1,"p10_ms":1,"p90_ms":1,"reps":1}`)
	}
	many := `{"schema":"edgetoon-latency/1","device":{"user_agent":"a","precision":"fp32","timer":"fence","date":"2026-11-30T12:00:00Z"},"rows":[` + strings.Join(rows, ",") + `]}`
	if len(many) > MaxTableBytes {
		t.Fatalf("test table of %d bytes is over the byte cap: it would not test the row cap", len(many))
	}
	if _, err := Parse([]byte(many)); err == nil || !strings.Contains(err.Error(), "10001 rows, more than 10000") {
		t.Errorf("too many rows: error %v", err)
	}
	// Oversized input: valid JSON padded with spaces past the cap, through
	// the reader (which must stop reading) and Parse.
	big := validTable + strings.Repeat(" ", MaxTableBytes)
	r := &countingReader{r: strings.NewReader(big)}
	if _, err := Read(r); err == nil || !strings.Contains(err.Error(), "larger than 4194304 bytes") {
		t.Errorf("oversized: error %v", err)
	}
	if r.n > MaxTableBytes+1 {
		t.Errorf("Read consumed %d bytes of an oversized table, want at most %d", r.n, MaxTableBytes+1)
	}
	if _, err := Parse([]byte(big)); err == nil {
		t.Error("Parse accepted an oversized table")
	}
	// Exactly at the cap is fine.
	exact := validTable + strings.Repeat(" ", MaxTableBytes-len(validTable))
	if _, err := Read(strings.NewReader(exact)); err != nil {
		t.Errorf("table of exactly %d bytes: %v", MaxTableBytes, err)
	}
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestHashIsCanonical(t *testing.T) {
	a, err := Parse([]byte(validTable))
	if err != nil {
		t.Fatal(err)
	}
	// The same content with the rows reversed, fields reordered and
	// re-indented hashes the same.
	var generic map[string]any
	if err := json.Unmarshal([]byte(validTable), &generic); err != nil {
		t.Fatal(err)
	}
	rows := generic["rows"].([]any)
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	other, _ := json.MarshalIndent(generic, "", "\t") // map keys come out sorted, unlike validTable
	b, err := Parse(other)
	if err != nil {
		t.Fatal(err)
	}
	ha, _ := a.Hash()
	hb, _ := b.Hash()
	if ha != hb {
		t.Errorf("same content, hashes %s and %s", ha, hb)
	}
	// The hash is the SHA-256 of the canonical bytes, which are the
	// compact JSON of the sorted rows.
	canon, _ := a.Canonical()
	sum := sha256.Sum256(canon)
	if ha != hex.EncodeToString(sum[:]) {
		t.Error("hash is not the SHA-256 of the canonical form")
	}
	if !bytes.HasPrefix(canon, []byte(`{"schema":"edgetoon-latency/1","device":{"user_agent":"Mozilla/5.0 (test)"`)) ||
		!bytes.Contains(canon, []byte(`"rows":[{"block":{"kind":"conv","k":3,"stride":1,"cin":16,"cout":32,"h":64,"w":64,"act":"leaky_relu"},"median_ms":1.5,"p10_ms":1.25,"p90_ms":2,"reps":20},{"block":{"kind":"resblock"`)) {
		t.Errorf("canonical form: %s", canon)
	}
	// A changed latency changes the hash.
	b.Rows[0].MedianMS = 0.8
	if hc, _ := b.Hash(); hc == ha {
		t.Error("different content, same hash")
	}
	// An invalid table has no hash.
	b.Rows[0].Reps = 0
	if _, err := b.Hash(); err == nil {
		t.Error("invalid table hashed")
	}
}

// The synthetic example table in testdata parses, and matches what the
// oracle produces for the reduced catalogue (go test -update rewrites it).
func TestSyntheticExampleTable(t *testing.T) {
	path := filepath.Join("..", "testdata", "latency", "synthetic_reduced_table.json")
	want := synthTable(ReducedCatalog(), 0.03, 11)
	if *update {
		data, err := json.MarshalIndent(want, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	// Compare with a tolerance: math.Exp may differ in the last bit
	// between architectures.
	stale := len(got.Rows) != len(want.Rows) || got.Device != want.Device
	for i := 0; !stale && i < len(got.Rows); i++ {
		g, w := got.Rows[i], want.Rows[i]
		stale = g.Block != w.Block || g.Reps != w.Reps ||
			!near(g.MedianMS, w.MedianMS) || !near(g.P10MS, w.P10MS) || !near(g.P90MS, w.P90MS)
	}
	if stale {
		t.Errorf("%s is stale: run go test ./latency -run SyntheticExample -update", path)
	}
	if !strings.HasPrefix(got.Device.UserAgent, "synthetic") {
		t.Errorf("user agent %q: a synthetic table must say so", got.Device.UserAgent)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Abs(b) }
