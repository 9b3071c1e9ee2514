package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bigModel is a toy model of n bytes, larger than the socket buffers, so
// that a client that does not read blocks the server's writes.
func bigModel(n int) []byte {
	b := toyModel("big")
	return append(b, bytes.Repeat([]byte{0x5a}, n-len(b))...)
}

// hardened serves a Server with big.safetensors (size bytes) in its model
// dir on a loopback port within lim, until the test ends.
func hardened(t *testing.T, size int, lim Limits, cfg Config) (addr string, cl *connLimiter, model []byte) {
	t.Helper()
	dir := t.TempDir()
	model = bigModel(size)
	if err := os.WriteFile(filepath.Join(dir, "big.safetensors"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Assets, cfg.ModelDir, cfg.Inspect, cfg.Log = webFS(), dir, inspect, func(string, ...any) {}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs, hln := Harden(ln, s, lim)
	go hs.Serve(hln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), hln.(*connLimiter), model
}

// dialer dials from the loopback address ip; Linux routes all of
// 127.0.0.0/8 to the loopback interface.
func dialer(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	c, err := dialer(ip).Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from %s (loopback aliases are a Linux feature): %v", ip, err)
	}
	return c
}

// clientFrom is an HTTP client whose connections come from ip.
func clientFrom(ip string) *http.Client {
	d := dialer(ip)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// stall opens a connection from ip that requests target and never reads.
func stall(t *testing.T, ip, addr, target string) net.Conn {
	t.Helper()
	c := dialFrom(t, ip, addr)
	c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, addr)
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond for up to limit; the limit only bounds the test.
func waitFor(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func testLimits() Limits {
	l := DefaultLimits()
	l.MaxConns, l.MaxConnsPerClient = 24, 8
	l.WriteFloor, l.MinRate = 300*time.Millisecond, 1<<20
	return l
}

// TestStalledReaderCutOff: a client that requests a large file and stops
// reading loses its connection once a write outlasts its deadline; the
// response it got is short of the file.
func TestStalledReaderCutOff(t *testing.T) {
	const size = 32 << 20
	addr, cl, _ := hardened(t, size, testLimits(), Config{})
	c := stall(t, "127.0.0.1", addr, "/models/big.safetensors")
	if !waitFor(30*time.Second, func() bool { return cl.conns() == 0 }) {
		t.Fatalf("%d connections still open after 30 s", cl.conns())
	}
	// The connection was reset, so the rest of the response is not left
	// queued in the kernel: the client reads what it had received, then
	// gets the reset, long before a slow drain could finish.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if n >= size || err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("the stalled client got %d of %d bytes, then %v; want a reset", n, size, err)
	}
	t.Logf("the stalled client got %d of %d bytes before the reset", n, size)
}

// TestSteadyReaderGetsAll: a client that reads steadily, at a few times
// MinRate, gets a response that takes many times WriteFloor: the
// deadline moves on with every write, and allows for the kernel's send
// buffer, which wakes a blocked writer only once much of it has drained.
func TestSteadyReaderGetsAll(t *testing.T) {
	const size = 8 << 20
	lim := testLimits() // MinRate 1 MiB/s
	addr, _, model := hardened(t, size, lim, Config{})
	c := dialFrom(t, "127.0.0.1", addr)
	defer c.Close()
	fmt.Fprintf(c, "GET /models/big.safetensors HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var got bytes.Buffer
	buf := make([]byte, 128<<10)
	for {
		time.Sleep(50 * time.Millisecond) // about 2.5 MiB/s
		n, err := io.ReadFull(resp.Body, buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if took := time.Since(start); took < 5*lim.WriteFloor {
		t.Logf("read in %v, within 5 floors: the test proves less than it should", took)
	}
	if !bytes.Equal(got.Bytes(), model) {
		t.Fatalf("got %d bytes, want the %d of the model", got.Len(), len(model))
	}
}

// TestConnCaps: stalled readers from one address hold at most their
// share of connections; another address's /healthz and downloads are
// answered; idle connections make room for new clients.
func TestConnCaps(t *testing.T) {
	const size = 8 << 20
	lim := testLimits()
	lim.WriteFloor = 5 * time.Second // the stalled readers hold on meanwhile
	addr, cl, model := hardened(t, size, lim, Config{})
	peak := 0
	check := func(when string) {
		cl.mu.Lock()
		n, mine := len(cl.open), cl.clients["127.0.0.1"]
		cl.mu.Unlock()
		peak = max(peak, n)
		if n > lim.MaxConns || mine > lim.MaxConnsPerClient {
			t.Errorf("%s: %d connections open, %d from 127.0.0.1; caps %d, %d", when, n, mine, lim.MaxConns, lim.MaxConnsPerClient)
		}
	}
	for i := range 60 {
		stall(t, "127.0.0.1", addr, "/models/big.safetensors")
		check(fmt.Sprintf("stalled reader %d", i))
	}
	health := clientFrom("127.0.0.2")
	for i := range 20 {
		resp, err := health.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("healthz %d from another address: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz %d: %d", i, resp.StatusCode)
		}
		check(fmt.Sprintf("healthz %d", i))
	}
	resp, err := clientFrom("127.0.0.3").Get("http://" + addr + "/models/big.safetensors")
	if err != nil {
		t.Fatalf("download from another address: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, model) {
		t.Fatalf("download from another address: %d of %d bytes, %v", len(got), len(model), err)
	}

	// Idle keep-alive connections from many addresses fill the cap; a new
	// client still gets in, in place of the longest idle.
	var idle []*http.Client
	for i := range lim.MaxConns + 8 {
		c := clientFrom(fmt.Sprintf("127.0.1.%d", i+1))
		if resp, err := c.Get("http://" + addr + "/healthz"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		idle = append(idle, c)
		check(fmt.Sprintf("idle client %d", i))
	}
	resp, err = clientFrom("127.0.0.4").Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz with the cap full of idle connections: %v", err)
	}
	resp.Body.Close()
	check("last healthz")
	if peak < lim.MaxConns {
		t.Errorf("peak %d connections: the test never reached the cap of %d", peak, lim.MaxConns)
	}
	for _, c := range idle {
		c.CloseIdleConnections()
	}
}

// TestConnCapPerClientEvictsIdle: a client at its cap whose connections
// are idle (a browser's keep-alive pool) can still open a new one.
func TestConnCapPerClientEvictsIdle(t *testing.T) {
	lim := testLimits()
	addr, cl, _ := hardened(t, 1<<20, lim, Config{})
	var conns []net.Conn
	for range lim.MaxConnsPerClient {
		c := dialFrom(t, "127.0.0.9", addr)
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		conns = append(conns, c)
		// The server marks a connection idle after the client has its
		// answer: wait for it, so that the order of going idle is the
		// order of the requests.
		waitIdle(t, cl, "127.0.0.9", len(conns))
	}
	// One more, from the same address: it gets in and is answered.
	c := dialFrom(t, "127.0.0.9", addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a new connection with %d idle ones: %v", len(conns), err)
	}
	resp.Body.Close()
	cl.mu.Lock()
	n := cl.clients["127.0.0.9"]
	cl.mu.Unlock()
	if n > lim.MaxConnsPerClient {
		t.Errorf("%d connections from one address, cap %d", n, lim.MaxConnsPerClient)
	}
	// The oldest idle one was closed.
	conns[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conns[0].Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("oldest idle connection: read %v, want closed", err)
	}
}

// waitIdle waits until n connections of client key wait for a request.
func waitIdle(t *testing.T, cl *connLimiter, key string, n int) {
	t.Helper()
	idle := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		cl.mu.Lock()
		idle = 0
		for c := range cl.open {
			if c.key == key && c.waiting.Load() != 0 {
				idle++
			}
		}
		cl.mu.Unlock()
		if idle >= n {
			return
		}
	}
	t.Fatalf("%d idle connections from %s after 10 s, want %d", idle, key, n)
}

func TestClientNet(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:80":              "192.0.2.1",
		"[::ffff:192.0.2.1]:80":     "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:80": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:9":  "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:9":       "2001:db8:1:3::/64",
		"[fe80::1%eth0]:80":         "fe80::/64",
		"pipe":                      "pipe",
	} {
		if got := clientNet(in); got != want {
			t.Errorf("clientNet(%q) = %q, want %q", in, got, want)
		}
	}
}
