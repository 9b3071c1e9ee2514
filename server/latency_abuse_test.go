package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// loopbackAddr is the i-th address of 127.0.0.0/8 past 127.0.0.255, as a
// remote address.
func loopbackAddr(i int) string {
	i += 256
	return fmt.Sprintf("127.%d.%d.%d:40000", i>>16&0xff, i>>8&0xff, i&0xff)
}

// TestLatencyJunkFlood: junk posts from more client networks than the
// rate limiter remembers, or many junk posts from each, do not shut a new
// client out.
func TestLatencyJunkFlood(t *testing.T) {
	for _, c := range []struct{ posts, addrs int }{{20000, 20000}, {100000, 10000}} {
		t.Run(fmt.Sprintf("%d from %d", c.posts, c.addrs), func(t *testing.T) {
			if testing.Short() && c.posts > 20000 {
				t.Skip("-short")
			}
			s, dir := latencyServer(t)
			refused := 0
			for i := range c.posts {
				code, _, _ := post(t, s, "application/json", "junk", loopbackAddr(i%c.addrs))
				switch code {
				case http.StatusBadRequest:
				case http.StatusTooManyRequests:
					refused++
				default:
					t.Fatalf("junk post %d: %d", i, code)
				}
			}
			// Each address was refused only past its own burst.
			if want := max(0, c.posts-c.addrs*latencyBurst); refused < want {
				t.Errorf("%d junk posts refused, want at least %d", refused, want)
			}
			if n := len(s.latency.limiter.clients); n > maxLatencyClients {
				t.Errorf("%d clients tracked, limit %d", n, maxLatencyClients)
			}
			code, r, _ := post(t, s, "application/json", encode(t, validTable(3)), "192.0.2.200:1")
			if code != http.StatusCreated {
				t.Fatalf("a new client after the flood: %d %+v", code, r)
			}
			if names := stored(t, dir); len(names) != 1 {
				t.Errorf("stored %v", names)
			}
		})
	}
}

// TestLatencyJunkFloodTCP: the same over real connections from 2,000
// loopback addresses, against a limiter that remembers 500: the client
// network is taken from the connection, and a new client gets in.
func TestLatencyJunkFloodTCP(t *testing.T) {
	s, dir := latencyServer(t)
	s.latency.limiter = newRateLimiter(latencyBurst, latencyRefill, 500)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs, hln := Harden(ln, s, DefaultLimits())
	go hs.Serve(hln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + latencyPath
	send := func(ip, body string) (int, latencyReply) {
		t.Helper()
		c := clientFrom(ip)
		defer c.CloseIdleConnections()
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			if strings.Contains(err.Error(), "assign requested address") {
				t.Skipf("cannot dial from %s: %v", ip, err)
			}
			t.Fatalf("post from %s: %v", ip, err)
		}
		defer resp.Body.Close()
		var r latencyReply
		json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r
	}
	for i := range 2000 {
		ip, _, _ := strings.Cut(loopbackAddr(i), ":")
		if code, r := send(ip, "junk"); code != http.StatusBadRequest {
			t.Fatalf("junk post %d from %s: %d %+v", i, ip, code, r)
		}
	}
	if code, r := send("127.200.0.1", encode(t, validTable(5))); code != http.StatusCreated {
		t.Fatalf("a new client after 2,000 junk posts: %d %+v", code, r)
	}
	if names := stored(t, dir); len(names) != 1 {
		t.Errorf("stored %v", names)
	}
}

// dirCharge sums what the quota charges for the files of dir, failing on
// any file the endpoint should not leave there.
func dirCharge(t *testing.T, dir string) (total int64, names []string) {
	t.Helper()
	for _, name := range stored(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		total += charge(fi.Size())
		names = append(names, name)
	}
	return total, names
}

// TestLatencyQuota: the directory never holds more than the quota; the
// oldest tables make room for new ones, whether they were stored before
// the start, by this server, or deleted by hand meanwhile.
func TestLatencyQuota(t *testing.T) {
	dir := t.TempDir()
	// Two tables from a previous run, older than anything new; and a
	// stale temporary file from a crash.
	old := []string{strings.Repeat("a", 64) + ".json", strings.Repeat("b", 64) + ".json"}
	for i, name := range old {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Repeat("x", 5000)), 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-time.Duration(10-i) * time.Hour)
		os.Chtimes(path, when, when)
	}
	os.WriteFile(filepath.Join(dir, tempPrefix+"123.tmp"), []byte("partial"), 0o644)
	one := charge(int64(len(must(validTable(1).Canonical()))))
	quota := 5 * one
	s, err := New(Config{Assets: webFS(), Inspect: inspect, LatencyDir: dir, LatencyQuota: quota, Log: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, tempPrefix+"123.tmp")); err == nil {
		t.Error("stale temporary file kept")
	}
	if s.latency.tables.used != 2*charge(5000) {
		t.Errorf("counted %d bytes at start, want %d", s.latency.tables.used, 2*charge(5000))
	}
	var sent []string
	byHand := ""
	for i := range 12 {
		code, r, _ := post(t, s, "application/json", encode(t, validTable(float64(i+1))), fmt.Sprintf("192.0.2.%d:1", i+1))
		if code != http.StatusCreated {
			t.Fatalf("table %d: %d %+v", i, code, r)
		}
		sent = append(sent, r.Name)
		total, names := dirCharge(t, dir)
		if total > quota {
			t.Fatalf("after table %d: %d bytes charged, quota %d", i, total, quota)
		}
		if total != s.latency.tables.used {
			t.Errorf("after table %d: %d bytes on disk, %d counted", i, total, s.latency.tables.used)
		}
		// The oldest go first: the older of the previous run's tables
		// before the newer, both before any new one, and the new ones in
		// the order they came.
		has := map[string]bool{}
		for _, n := range names {
			has[n] = true
		}
		order := append(slices.Clone(old), sent...)
		for j := 1; j < len(order); j++ {
			if has[order[j-1]] && !has[order[j]] && order[j] != byHand {
				t.Errorf("after table %d: %s kept, the newer %s gone", i, order[j-1], order[j])
			}
		}
		if i == 6 {
			// Someone deletes the next table to go by hand.
			byHand = sent[2]
			os.Remove(filepath.Join(dir, byHand))
		}
	}
	_, names := dirCharge(t, dir)
	want := sent[len(sent)-int(quota/one):]
	if !slices.Equal(names, slices.Sorted(slices.Values(want))) {
		t.Errorf("kept %v, want the newest %v", names, want)
	}
	// A table larger than the whole quota is refused, and nothing goes.
	s.latency.tables.quota = one - 1
	if code, r, _ := post(t, s, "application/json", encode(t, validTable(100)), "192.0.2.99:1"); code != http.StatusInsufficientStorage {
		t.Errorf("a table over the quota: %d %+v", code, r)
	}
	if _, after := dirCharge(t, dir); len(after) != len(names) {
		t.Errorf("refusing a table removed %d others", len(names)-len(after))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLatencyHost: only requests that name this server in Host, and come
// from its own origin when they carry one, may post.
func TestLatencyHost(t *testing.T) {
	s, dir := latencyServer(t)
	s.latency.hosts = []string{"toon.example"}
	lan := &net.TCPAddr{IP: net.ParseIP("192.168.1.5"), Port: 8080}
	loop := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}
	cases := []struct {
		name   string
		local  net.Addr // nil: a handler called without a connection
		host   string
		origin string
		tls    bool
		ok     bool
	}{
		{"localhost", loop, "localhost:8080", "", false, true},
		{"localhost, own origin", loop, "localhost:8080", "http://localhost:8080", false, true},
		{"loopback IP", loop, "127.0.0.1:8080", "http://127.0.0.1:8080", false, true},
		{"IPv6 loopback", &net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "[::1]:8080", "http://[::1]:8080", false, true},
		{"LAN address reached", lan, "192.168.1.5:8080", "http://192.168.1.5:8080", false, true},
		{"LAN address, https", lan, "192.168.1.5:8443", "https://192.168.1.5:8443", true, true},
		{"configured name", lan, "toon.example", "http://toon.example", false, true},
		{"no connection", nil, "localhost", "", false, true},
		{"rebound name", lan, "evil.example:8080", "http://evil.example:8080", false, false},
		{"rebound name, no origin", loop, "evil.example:8080", "", false, false},
		{"localhost over the LAN", lan, "localhost:8080", "", false, false},
		{"another LAN address", lan, "192.168.1.6:8080", "", false, false},
		{"cross-origin", loop, "localhost:8080", "http://evil.example", false, false},
		{"other port's origin", loop, "localhost:8080", "http://localhost:9999", false, false},
		{"https origin over http", loop, "localhost:8080", "https://localhost:8080", false, false},
		{"null origin", loop, "localhost:8080", "null", false, false},
		{"no host", loop, "", "", false, false},
	}
	for i, c := range cases {
		target := latencyPath
		if c.tls {
			target = "https://" + c.host + latencyPath
		}
		req := httptest.NewRequest("POST", target, strings.NewReader(encode(t, validTable(float64(i+1)))))
		req.Host = c.host
		req.Header.Set("Content-Type", "application/json")
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.local != nil {
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, c.local))
		}
		req.RemoteAddr = fmt.Sprintf("192.0.2.%d:1", i+1)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if ok := w.Code == http.StatusCreated; ok != c.ok {
			t.Errorf("%s: %d %s", c.name, w.Code, strings.TrimSpace(w.Body.String()))
		}
		if !c.ok && w.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.name, w.Code)
		}
	}
	want := 0
	for _, c := range cases {
		if c.ok {
			want++
		}
	}
	if n := len(stored(t, dir)); n != want {
		t.Errorf("%d tables stored, want %d", n, want)
	}
}

// TestLatencyHostOverTCP: through a real connection, the address the
// client dialled is accepted as Host, and another is not.
func TestLatencyHostOverTCP(t *testing.T) {
	s, _ := latencyServer(t)
	ts := httptest.NewServer(s)
	defer ts.Close()
	for host, want := range map[string]int{ts.Listener.Addr().String(): http.StatusCreated, "attacker.example": http.StatusForbidden} {
		req, _ := http.NewRequest("POST", ts.URL+latencyPath, strings.NewReader(encode(t, validTable(float64(len(host))))))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestLatencyIPv6Prefix: the addresses of one IPv6 /64 share a rate
// limit; the next /64 has its own.
func TestLatencyIPv6Prefix(t *testing.T) {
	s, _ := latencyServer(t)
	for i := range latencyBurst {
		addr := fmt.Sprintf("[2001:db8:0:7::%x]:443", i+1)
		if code, r, _ := post(t, s, "application/json", encode(t, validTable(float64(i+1))), addr); code != http.StatusCreated {
			t.Fatalf("%s: %d %+v", addr, code, r)
		}
	}
	if code, _, _ := post(t, s, "application/json", encode(t, validTable(50)), "[2001:db8:0:7:ffff:ffff:ffff:ffff]:443"); code != http.StatusTooManyRequests {
		t.Errorf("another address of the same /64: %d, want 429", code)
	}
	if code, _, _ := post(t, s, "application/json", encode(t, validTable(51)), "[2001:db8:0:8::1]:443"); code != http.StatusCreated {
		t.Errorf("the next /64: %d, want 201", code)
	}
}
