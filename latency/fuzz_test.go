package latency

import (
	"bytes"
	"testing"
)

// FuzzParse: any accepted table has a canonical form that parses back to
// the same hash; nothing panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validTable))
	f.Add([]byte(validTable[:len(validTable)/2]))
	f.Add([]byte(`{"schema":"edgetoon-latency/1"}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Parse(data)
		if err != nil {
			return
		}
		canon, err := tab.Canonical()
		if err != nil {
			t.Fatalf("accepted table has no canonical form: %v", err)
		}
		back, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v", err)
		}
		again, _ := back.Canonical()
		if !bytes.Equal(canon, again) {
			t.Fatal("canonical form is not a fixed point")
		}
		for _, r := range tab.Rows {
			_ = Features(r.Block)
		}
	})
}

// FuzzDecodeMLP: any accepted predictor evaluates without panicking.
func FuzzDecodeMLP(f *testing.F) {
	good, err := handMLP().Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"format":"edgetoon-latency-mlp/1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMLP(data)
		if err != nil {
			return
		}
		for _, b := range ReducedCatalog() {
			_ = m.Predict(b)
		}
	})
}
