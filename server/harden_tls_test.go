package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHardenTLS: served the way `serve -tls` does (Harden, then ServeTLS
// on its listener), HTTP/2 is negotiated, a large file arrives whole
// under the write deadlines, HSTS is sent, and the connection is counted
// and, once idle, known to be idle through the TLS layer.
func TestHardenTLS(t *testing.T) {
	cert, _, err := SelfSigned(t.TempDir(), testHosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	model := bigModel(4 << 20)
	if err := os.WriteFile(filepath.Join(dir, "big.safetensors"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Assets: webFS(), ModelDir: dir, Inspect: inspect, Log: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs, hln := Harden(ln, s, testLimits())
	hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	go hs.ServeTLS(hln, "", "")
	defer hs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/models/big.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, model) {
		t.Fatalf("%d of %d bytes, %v", len(got), len(model), err)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
	cl := hln.(*connLimiter)
	if !waitFor(10*time.Second, func() bool {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		for c := range cl.open {
			return len(cl.open) == 1 && c.waiting.Load() != 0
		}
		return false
	}) {
		t.Errorf("the TLS connection is not counted as one idle connection")
	}
}
