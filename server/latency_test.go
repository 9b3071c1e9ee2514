package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetoon/edgetoon/latency"
)

// validTable is a small table that latency.Parse accepts.
func validTable(median float64) *latency.Table {
	t := &latency.Table{Schema: latency.Schema, Device: latency.Device{
		UserAgent: "Mozilla/5.0 (test) ../../etc/passwd", Renderer: "SwiftShader", Vendor: "Google",
		Precision: latency.PrecisionFP32, Timer: latency.TimerFence, Date: "2026-01-02T03:04:05Z",
	}}
	for i, b := range latency.ReducedCatalog() {
		m := median * float64(i+1)
		t.Rows = append(t.Rows, latency.Row{Block: b, MedianMS: m, P10MS: m * 0.9, P90MS: m * 1.2, Reps: 10})
	}
	return t
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func latencyServer(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := New(Config{Assets: webFS(), Inspect: inspect, LatencyDir: dir, Log: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// post sends body to /api/latency from addr and decodes the reply.
func post(t *testing.T, s http.Handler, ctype, body, addr string) (int, latencyReply, http.Header) {
	t.Helper()
	req := httptest.NewRequest("POST", latencyPath, strings.NewReader(body))
	req.Host = "localhost:8080"
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.RemoteAddr = addr
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	var r latencyReply
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("reply %q: %v", w.Body.String(), err)
	}
	return w.Code, r, w.Header()
}

// stored lists the directory, failing on any file the endpoint should not
// leave there.
func stored(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !storedName.MatchString(e.Name()) {
			t.Errorf("stray file %s", e.Name())
		}
		names = append(names, e.Name())
	}
	return names
}

func TestLatencyAccepts(t *testing.T) {
	s, dir := latencyServer(t)
	tab := validTable(3)
	code, r, _ := post(t, s, "application/json; charset=utf-8", encode(t, tab), "192.0.2.1:1234")
	if code != http.StatusCreated || !r.Created || r.Rows != len(tab.Rows) {
		t.Fatalf("first post: %d %+v", code, r)
	}
	names := stored(t, dir)
	if len(names) != 1 || names[0] != r.Name {
		t.Fatalf("stored %v, reply names %q", names, r.Name)
	}
	// The file is the table's canonical form, named by its SHA-256.
	data, err := os.ReadFile(filepath.Join(dir, r.Name))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]) + ".json"; r.Name != want {
		t.Errorf("name %s, SHA-256 of the file %s", r.Name, want)
	}
	back, err := latency.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := back.Hash(); h+".json" != r.Name {
		t.Errorf("stored table hashes to %s", h)
	}
	if fi, _ := os.Stat(filepath.Join(dir, r.Name)); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}

	// The same content, rows reversed and indented: not overwritten, same
	// name, 200 and created false.
	for i, j := 0, len(tab.Rows)-1; i < j; i, j = i+1, j-1 {
		tab.Rows[i], tab.Rows[j] = tab.Rows[j], tab.Rows[i]
	}
	indented, _ := json.MarshalIndent(tab, "", "  ")
	before, _ := os.Stat(filepath.Join(dir, r.Name))
	code, r2, _ := post(t, s, "application/json", string(indented), "192.0.2.1:1234")
	if code != http.StatusOK || r2.Created || r2.Name != r.Name {
		t.Errorf("same table again: %d %+v, want 200 with %s", code, r2, r.Name)
	}
	after, _ := os.Stat(filepath.Join(dir, r.Name))
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("the stored table was replaced")
	}
	// Another table gets another name.
	code, r3, _ := post(t, s, "application/json", encode(t, validTable(4)), "192.0.2.1:1234")
	if code != http.StatusCreated || r3.Name == r.Name {
		t.Errorf("second table: %d %+v", code, r3)
	}
	if n := len(stored(t, dir)); n != 2 {
		t.Errorf("%d files, want 2", n)
	}
}

func TestLatencyRejects(t *testing.T) {
	good := encode(t, validTable(2))
	edit := func(f func(tab *latency.Table)) string {
		tab := validTable(2)
		f(tab)
		return encode(t, tab)
	}
	huge := `{"schema":"edgetoon-latency/1","pad":"` + strings.Repeat("x", latency.MaxTableBytes) + `"}`
	cases := []struct {
		name, ctype, body string
		code              int
		msg               string
	}{
		{"no content type", "", good, http.StatusUnsupportedMediaType, "application/json"},
		{"text/plain", "text/plain", good, http.StatusUnsupportedMediaType, "application/json"},
		{"form", "application/x-www-form-urlencoded", good, http.StatusUnsupportedMediaType, "application/json"},
		{"json-ish", "application/jsonp", good, http.StatusUnsupportedMediaType, "application/json"},
		{"oversized", "application/json", huge, http.StatusRequestEntityTooLarge, "larger than"},
		{"not json", "application/json", "hello", http.StatusBadRequest, "invalid character"},
		{"wrong schema", "application/json", strings.Replace(good, latency.Schema, "edgetoon-latency/2", 1), http.StatusBadRequest, `schema "edgetoon-latency/2"`},
		{"no schema", "application/json", `{"rows":[]}`, http.StatusBadRequest, "no schema"},
		{"unknown field", "application/json", strings.Replace(good, `"rows"`, `"extra":1,"rows"`, 1), http.StatusBadRequest, "unknown field"},
		{"trailing data", "application/json", good + `{}`, http.StatusBadRequest, "invalid character"},
		{"NaN", "application/json", strings.Replace(good, `"median_ms":2,`, `"median_ms":NaN,`, 1), http.StatusBadRequest, "invalid character 'N'"},
		{"negative", "application/json", edit(func(tab *latency.Table) { tab.Rows[1].MedianMS, tab.Rows[1].P10MS = -1, -2 }), http.StatusBadRequest, "row 1"},
		{"zero", "application/json", edit(func(tab *latency.Table) { tab.Rows[0].P10MS = 0 }), http.StatusBadRequest, "p10_ms 0"},
		{"huge latency", "application/json", edit(func(tab *latency.Table) { tab.Rows[0].P90MS = 1e300 }), http.StatusBadRequest, "p90_ms"},
		{"duplicate", "application/json", edit(func(tab *latency.Table) { tab.Rows = append(tab.Rows, tab.Rows[2]) }), http.StatusBadRequest, "same configuration as row 2"},
		{"no rows", "application/json", edit(func(tab *latency.Table) { tab.Rows = nil }), http.StatusBadRequest, "no rows"},
		{"bad block", "application/json", edit(func(tab *latency.Table) { tab.Rows[0].Block.K = 4 }), http.StatusBadRequest, "must be odd"},
		{"bad device", "application/json", edit(func(tab *latency.Table) { tab.Device.UserAgent = "a\nb" }), http.StatusBadRequest, "control characters"},
	}
	s, dir := latencyServer(t)
	for i, c := range cases {
		// A fresh address per case: this test is not about the rate limit.
		code, r, _ := post(t, s, c.ctype, c.body, fmt.Sprintf("198.51.100.%d:80", i+1))
		if code != c.code || !strings.Contains(r.Error, c.msg) || r.Name != "" {
			t.Errorf("%s: %d %+v, want %d with %q", c.name, code, r, c.code, c.msg)
		}
	}
	// An oversized body of unknown length is cut off too.
	req := httptest.NewRequest("POST", latencyPath, strings.NewReader(huge))
	req.Host = "localhost"
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized, chunked: %d", w.Code)
	}
	if names := stored(t, dir); len(names) != 0 {
		t.Errorf("rejected tables stored: %v", names)
	}
}

func TestLatencyRateLimit(t *testing.T) {
	s, dir := latencyServer(t)
	for i := range latencyBurst {
		if code, r, _ := post(t, s, "application/json", encode(t, validTable(float64(i+1))), "203.0.113.7:5000"); code != http.StatusCreated {
			t.Fatalf("post %d: %d %+v", i, code, r)
		}
	}
	// Another port, same address: the same client.
	code, r, h := post(t, s, "application/json", encode(t, validTable(99)), "203.0.113.7:5001")
	if code != http.StatusTooManyRequests || r.Error == "" || h.Get("Retry-After") == "" {
		t.Errorf("over the burst: %d %+v, Retry-After %q", code, r, h.Get("Retry-After"))
	}
	// Invalid tables count too: a client cannot probe for free.
	if code, _, _ := post(t, s, "application/json", "junk", "203.0.113.7:5001"); code != http.StatusTooManyRequests {
		t.Errorf("junk over the burst: %d", code)
	}
	// Other clients are not affected, IPv6 included.
	for _, addr := range []string{"203.0.113.8:5000", "[2001:db8::1]:443"} {
		if code, r, _ := post(t, s, "application/json", encode(t, validTable(7)), addr); code != http.StatusCreated && code != http.StatusOK {
			t.Errorf("%s: %d %+v", addr, code, r)
		}
	}
	if n := len(stored(t, dir)); n != latencyBurst+1 {
		t.Errorf("%d tables stored, want %d", n, latencyBurst+1)
	}
}

func TestRateLimiterRefills(t *testing.T) {
	l := newRateLimiter(2, time.Minute, 3)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow("a", t0); ok != want {
			t.Errorf("request %d at t0: %v", i, ok)
		}
	}
	if ok, wait := l.allow("a", t0.Add(30*time.Second)); ok || wait != 30*time.Second {
		t.Errorf("after 30 s: %v, wait %v; want refused, 30s", ok, wait)
	}
	if ok, _ := l.allow("a", t0.Add(time.Minute)); !ok {
		t.Error("after a minute: refused")
	}
	if ok, _ := l.allow("a", t0.Add(time.Minute)); ok {
		t.Error("second after a minute: allowed")
	}
	// A long idle time refills to the burst, not beyond.
	later := t0.Add(time.Hour)
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow("a", later); ok != want {
			t.Errorf("request %d an hour later: %v", i, ok)
		}
	}
	// The client table is bounded: a new client always gets a bucket, and
	// the least recently seen client is forgotten to make room.
	l.allow("b", later)
	l.allow("c", later.Add(time.Second))
	if ok, _ := l.allow("d", later.Add(2*time.Second)); !ok {
		t.Error("fourth client with three tracked: refused")
	}
	if len(l.clients) != 3 || l.clients["a"] != nil || l.clients["b"] == nil {
		t.Errorf("tracked %v, want b, c, d", keys(l))
	}
	// b was seen again, so c is the one to go next.
	l.allow("b", later.Add(3*time.Second))
	l.allow("e", later.Add(4*time.Second))
	if l.clients["c"] != nil || l.clients["b"] == nil || l.clients["d"] == nil {
		t.Errorf("tracked %v, want b, d, e", keys(l))
	}
}

func keys(l *rateLimiter) []string {
	var k []string
	for e := l.recent.Front(); e != nil; e = e.Next() {
		k = append(k, e.Value.(*bucket).key)
	}
	return k
}

func TestLatencyDisabled(t *testing.T) {
	s, _ := newServer(t, webFS(), "")
	body := encode(t, validTable(1))
	req := httptest.NewRequest("POST", latencyPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST without -latency-dir: %d", w.Code)
	}
	if r := get(t, s, "GET", latencyPath); r.StatusCode != http.StatusNotFound {
		t.Errorf("GET without -latency-dir: %d", r.StatusCode)
	}
	if _, err := New(Config{Assets: webFS(), Inspect: inspect, LatencyDir: filepath.Join(t.TempDir(), "nope")}); err == nil {
		t.Error("missing latency dir: no error")
	}
}

// TestLatencyOnlyWriteEndpoint: with the endpoint on, nothing else takes
// a body, and no spelling of another path reaches it.
func TestLatencyOnlyWriteEndpoint(t *testing.T) {
	s, dir := latencyServer(t)
	body := encode(t, validTable(1))
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, p := range []string{"/", "/app.js", "/api/latency/", "/api/latency/x.json", "/api/latency/../latency", "/api/latency?x=1/../../a", "/api%2flatency", "/API/LATENCY", "/healthz"} {
			req := httptest.NewRequest(m, p, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Host = "localhost"
			req.RemoteAddr = "192.0.2.50:1"
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			// Only the exact path, whatever the query, is the endpoint.
			endpoint := p == "/api/latency?x=1/../../a"
			switch {
			case m == "POST" && endpoint:
				if w.Code != http.StatusCreated && w.Code != http.StatusOK {
					t.Errorf("%s %s: %d", m, p, w.Code)
				}
			default:
				if w.Code != http.StatusMethodNotAllowed && w.Code != http.StatusNotFound {
					t.Errorf("%s %s: %d, want 405 or 404", m, p, w.Code)
				}
			}
		}
	}
	if r := get(t, s, "GET", latencyPath); r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET %s: %d, Allow %q", latencyPath, r.StatusCode, r.Header.Get("Allow"))
	}
	for _, name := range stored(t, dir) {
		if filepath.Dir(filepath.Join(dir, name)) != dir {
			t.Errorf("%s escapes the directory", name)
		}
	}
}
