package latency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
	"unicode/utf8"
)

// Schema is the value of a latency table's "schema" field.
const Schema = "edgetoon-latency/1"

// Limits on a table.
const (
	MaxTableBytes = 4 << 20 // encoded size
	MaxRows       = 10000
	MaxReps       = 100000
	MaxLatencyMS  = 600000 // ten minutes: anything slower is a broken run
	MaxTextLen    = 512    // user_agent, renderer, vendor
)

// Precision modes and timer methods of a device description.
const (
	PrecisionFP32 = "fp32"
	PrecisionFP16 = "fp16"
	TimerQuery    = "disjoint_timer_query" // EXT_disjoint_timer_query_webgl2
	TimerFence    = "fence"                // wall clock around a fence/sync wait
)

// Table is one profiler run: where it ran and one row per configuration.
type Table struct {
	Schema string `json:"schema"`
	Device Device `json:"device"`
	Rows   []Row  `json:"rows"`
}

// Device describes the browser and GPU a table was measured on.
type Device struct {
	UserAgent string `json:"user_agent"`
	// Renderer and Vendor come from WEBGL_debug_renderer_info
	// (UNMASKED_RENDERER_WEBGL, UNMASKED_VENDOR_WEBGL); empty where the
	// browser does not expose it.
	Renderer  string `json:"renderer"`
	Vendor    string `json:"vendor"`
	Precision string `json:"precision"` // PrecisionFP32 or PrecisionFP16
	Timer     string `json:"timer"`     // TimerQuery or TimerFence
	Date      string `json:"date"`      // RFC 3339
}

// Row holds the latency statistics of one block configuration over Reps
// timed repetitions (after warm-up), in milliseconds.
type Row struct {
	Block    Block   `json:"block"`
	MedianMS float64 `json:"median_ms"`
	P10MS    float64 `json:"p10_ms"`
	P90MS    float64 `json:"p90_ms"`
	Reps     int     `json:"reps"`
}

// Read parses a table from r, reading at most MaxTableBytes.
func Read(r io.Reader) (*Table, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxTableBytes+1))
	if err != nil {
		return nil, fmt.Errorf("latency table: %w", err)
	}
	return Parse(data)
}

// Parse decodes and validates a table. It rejects unknown fields, trailing
// data and anything [Table.Validate] rejects.
func Parse(data []byte) (*Table, error) {
	if len(data) > MaxTableBytes {
		return nil, fmt.Errorf("latency table: larger than %d bytes", MaxTableBytes)
	}
	// Check the schema first, so that a table of another version gets
	// that error rather than one about its fields. This also rejects
	// trailing data.
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("latency table: %w", err)
	}
	if head.Schema == nil {
		return nil, fmt.Errorf("latency table: no schema field (want %q)", Schema)
	}
	if *head.Schema != Schema {
		return nil, fmt.Errorf("latency table: schema %q: want %q", *head.Schema, Schema)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Table
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("latency table: %w", err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Validate checks every field of t; errors name the row (counted from 0)
// and its block.
func (t *Table) Validate() error {
	if t.Schema != Schema {
		return fmt.Errorf("latency table: schema %q: want %q", t.Schema, Schema)
	}
	if err := t.Device.validate(); err != nil {
		return fmt.Errorf("latency table: device: %w", err)
	}
	if len(t.Rows) == 0 {
		return fmt.Errorf("latency table: no rows")
	}
	if len(t.Rows) > MaxRows {
		return fmt.Errorf("latency table: %d rows, more than %d", len(t.Rows), MaxRows)
	}
	seen := make(map[Block]int, len(t.Rows))
	for i, r := range t.Rows {
		if err := r.Block.Validate(); err != nil {
			return fmt.Errorf("latency table: row %d: %w", i, err)
		}
		if err := r.validate(); err != nil {
			return fmt.Errorf("latency table: row %d (%s): %w", i, r.Block.Key(), err)
		}
		if j, dup := seen[r.Block]; dup {
			return fmt.Errorf("latency table: row %d (%s): same configuration as row %d", i, r.Block.Key(), j)
		}
		seen[r.Block] = i
	}
	return nil
}

func (r Row) validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"median_ms", r.MedianMS}, {"p10_ms", r.P10MS}, {"p90_ms", r.P90MS}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s is %v", f.name, f.v)
		}
		if f.v <= 0 || f.v > MaxLatencyMS {
			return fmt.Errorf("%s %g: want more than 0 and at most %d", f.name, f.v, MaxLatencyMS)
		}
	}
	if !(r.P10MS <= r.MedianMS && r.MedianMS <= r.P90MS) {
		return fmt.Errorf("p10_ms %g, median_ms %g, p90_ms %g: want p10 <= median <= p90", r.P10MS, r.MedianMS, r.P90MS)
	}
	if r.Reps < 1 || r.Reps > MaxReps {
		return fmt.Errorf("reps %d: out of range 1..%d", r.Reps, MaxReps)
	}
	return nil
}

func (d Device) validate() error {
	for _, f := range []struct{ name, v string }{
		{"user_agent", d.UserAgent}, {"renderer", d.Renderer}, {"vendor", d.Vendor},
	} {
		if len(f.v) > MaxTextLen {
			return fmt.Errorf("%s: longer than %d bytes", f.name, MaxTextLen)
		}
		if !utf8.ValidString(f.v) || slices.ContainsFunc([]rune(f.v), func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return fmt.Errorf("%s: control characters or invalid UTF-8", f.name)
		}
	}
	if d.UserAgent == "" {
		return fmt.Errorf("user_agent: empty")
	}
	if d.Precision != PrecisionFP32 && d.Precision != PrecisionFP16 {
		return fmt.Errorf("precision %q: want %q or %q", d.Precision, PrecisionFP32, PrecisionFP16)
	}
	if d.Timer != TimerQuery && d.Timer != TimerFence {
		return fmt.Errorf("timer %q: want %q or %q", d.Timer, TimerQuery, TimerFence)
	}
	if _, err := time.Parse(time.RFC3339, d.Date); err != nil {
		return fmt.Errorf("date %q: want RFC 3339 (2006-01-02T15:04:05Z)", d.Date)
	}
	return nil
}

// Canonical returns the canonical encoding of t: compact JSON with the
// rows sorted by [Compare]. Two tables with the same content, whatever the
// row order, spacing or field order of their files, encode the same.
func (t *Table) Canonical() ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	c := *t
	c.Rows = slices.Clone(t.Rows)
	slices.SortFunc(c.Rows, func(a, b Row) int { return Compare(a.Block, b.Block) })
	return json.Marshal(&c)
}

// Hash is the hex SHA-256 of t's canonical encoding: a name for the
// table's content.
func (t *Table) Hash() (string, error) {
	data, err := t.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
