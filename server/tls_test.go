package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var testHosts = []string{"localhost", "127.0.0.1", "::1", "192.168.1.23", "fd00::7"}

func TestSelfSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "edgetoon")
	now := time.Now()
	cert, reused, err := SelfSigned(dir, testHosts, now)
	if err != nil {
		t.Fatal(err)
	}
	if reused {
		t.Error("a fresh directory reported a reused certificate")
	}
	leaf := cert.Leaf
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("ExtKeyUsage %v", leaf.ExtKeyUsage)
	}
	if !leaf.NotAfter.After(now.Add(300 * 24 * time.Hour)) {
		t.Errorf("expires %v", leaf.NotAfter)
	}
	// Every host verifies against the certificate itself as the root.
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, h := range testHosts {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "192.168.1.99", Roots: roots, CurrentTime: now}); err == nil {
		t.Error("the certificate also covers an address it should not")
	}
	if fi, err := os.Stat(filepath.Join(dir, keyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi.Mode(), err)
	}

	// The second call reuses it, whatever the order of the hosts.
	again, reused, err := SelfSigned(dir, []string{"fd00:0::7", "192.168.1.23", "::1", "127.0.0.1", "localhost"}, now.Add(time.Hour))
	if err != nil || !reused || again.Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("second call: reused %v, %v", reused, err)
	}

	// A changed address set makes a new one.
	moved, reused, err := SelfSigned(dir, []string{"localhost", "127.0.0.1", "::1", "10.0.0.5"}, now)
	if err != nil || reused || moved.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Errorf("new address: reused %v, %v", reused, err)
	}
	if err := moved.Leaf.VerifyHostname("10.0.0.5"); err != nil {
		t.Error(err)
	}

	// So does expiry.
	later, reused, err := SelfSigned(dir, []string{"localhost", "127.0.0.1", "::1", "10.0.0.5"}, moved.Leaf.NotAfter.Add(-time.Hour))
	if err != nil || reused || later.Leaf.SerialNumber.Cmp(moved.Leaf.SerialNumber) == 0 {
		t.Errorf("near expiry: reused %v, %v", reused, err)
	}

	// And a damaged file.
	os.WriteFile(filepath.Join(dir, certFile), []byte("garbage"), 0o644)
	if _, reused, err := SelfSigned(dir, testHosts, now); err != nil || reused {
		t.Errorf("damaged file: reused %v, %v", reused, err)
	}
}

func TestSelfSignedHandshake(t *testing.T) {
	cert, _, err := SelfSigned(t.TempDir(), testHosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newServer(t, webFS(), "")
	ts := httptest.NewUnstartedServer(s)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.StartTLS()
	defer ts.Close()
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	for _, host := range []string{"127.0.0.1", "localhost"} {
		resp, err := client.Get("https://" + net.JoinHostPort(host, port) + "/healthz")
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", host, resp.StatusCode)
		}
	}
}
