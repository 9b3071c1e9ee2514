package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/edgetoon/edgetoon/latency"
)

// FuzzUpload posts arbitrary bodies and headers to the latency endpoint.
// Whatever comes in, the answer is one of the endpoint's codes with a
// JSON reply; a table is stored only if latency.Parse accepts the body,
// under the SHA-256 of the stored bytes; and the directory stays within
// its quota.
func FuzzUpload(f *testing.F) {
	good, err := json.Marshal(validTable(2))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("application/json", "localhost:8080", "", good)
	f.Add("application/json; charset=utf-8", "127.0.0.1:8080", "http://127.0.0.1:8080", good)
	f.Add("application/json", "localhost", "http://evil.example", good)
	f.Add("application/json", "evil.example", "", good)
	f.Add("text/plain", "localhost", "", good)
	f.Add("application/json", "localhost", "null", []byte("junk"))
	f.Add("application/json", "[::1]:80", "", []byte(`{"schema":"edgetoon-latency/1","rows":[]}`))
	f.Add("application/json", "localhost", "", bytes.Repeat([]byte("["), 10000))

	dir := f.TempDir()
	const quota = 64 << 10
	// A bare asset set: the fuzzer instruments the compressor, which is slow.
	s, err := New(Config{Assets: fstest.MapFS{"index.html": {Data: []byte("<p>hi")}}, Inspect: inspect, LatencyDir: dir, LatencyQuota: quota, Log: func(string, ...any) {}})
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, ctype, host, origin string, body []byte) {
		n++
		req := httptest.NewRequest("POST", latencyPath, bytes.NewReader(body))
		req.Host = host
		req.Header.Set("Content-Type", ctype)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.RemoteAddr = loopbackAddr(n)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		var r latencyReply
		if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
			t.Fatalf("%d: reply %q: %v", w.Code, w.Body.String(), err)
		}
		_, parseErr := latency.Parse(body)
		switch w.Code {
		case http.StatusCreated, http.StatusOK:
			if parseErr != nil {
				t.Fatalf("%d for a body latency.Parse refuses: %v", w.Code, parseErr)
			}
			if !storedName.MatchString(r.Name) {
				t.Fatalf("stored as %q", r.Name)
			}
			data, err := os.ReadFile(filepath.Join(dir, r.Name))
			if err != nil {
				if w.Code == http.StatusOK {
					return // stored before, and pruned since
				}
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:])+".json" != r.Name {
				t.Fatalf("%s holds bytes of another hash", r.Name)
			}
		case http.StatusBadRequest:
			if parseErr == nil && len(body) <= latency.MaxTableBytes {
				t.Fatalf("400 (%s) for a body latency.Parse accepts", r.Error)
			}
		case http.StatusForbidden, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge,
			http.StatusTooManyRequests, http.StatusInsufficientStorage:
		default:
			t.Fatalf("status %d: %+v", w.Code, r)
		}
		if r.Error == "" && w.Code >= 400 {
			t.Fatalf("%d without an error message", w.Code)
		}
		var used int64
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				used += charge(fi.Size())
			}
		}
		if used > quota {
			t.Fatal(fmt.Sprintf("%d bytes in the directory, quota %d", used, quota))
		}
	})
}
