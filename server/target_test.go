package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests in this file measure a running `edgetoon serve` at the
// targets of issue 21; they run only when EDGETOON_TARGET_ADDR names it
// (a loopback host:port). docs/hardening.md has the commands and the
// results.

func targetAddr(t *testing.T) string {
	addr := os.Getenv("EDGETOON_TARGET_ADDR")
	if addr == "" {
		t.Skip("EDGETOON_TARGET_ADDR not set: the measured runs of docs/hardening.md")
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		t.Fatalf("EDGETOON_TARGET_ADDR=%q: want a loopback host:port", addr)
	}
	return addr
}

// TestTargetStalledReaders keeps 1,000 connections from 127.0.0.1 that
// request a large file (EDGETOON_TARGET_PATH, the WASM by default) and
// never read, opening new ones as the server drops them, while 127.0.0.2
// probes /healthz on a new connection each time and 127.0.0.3 downloads
// the file, for 30 s or EDGETOON_TARGET_LENGTH.
func TestTargetStalledReaders(t *testing.T) {
	addr := targetAddr(t)
	path := cmp(os.Getenv("EDGETOON_TARGET_PATH"), "/edgetoon.wasm")
	const held = 1000
	length := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("EDGETOON_TARGET_LENGTH")); err == nil {
		length = d
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var opened atomic.Int64
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := dialer("127.0.0.1").Dial("tcp", addr)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			c.(*net.TCPConn).SetReadBuffer(4096)
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
			opened.Add(1)
			conns = append(conns, c)
			if len(conns) > held {
				conns[0].Close()
				conns = conns[1:]
			}
			if opened.Load() > held {
				time.Sleep(5 * time.Millisecond) // then about 200 new ones a second
			}
		}
	})
	for opened.Load() < held {
		time.Sleep(50 * time.Millisecond)
	}

	// A download from another address, during the attack.
	type result struct {
		n, want int64
		err     error
		took    time.Duration
	}
	dl := make(chan result, 1)
	go func() {
		start := time.Now()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Accept-Encoding", "identity") // so that Content-Length is the body's
		resp, err := clientFrom("127.0.0.3").Do(req)
		if err != nil {
			dl <- result{err: err}
			return
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		dl <- result{n, resp.ContentLength, err, time.Since(start)}
	}()

	probe := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: dialer("127.0.0.2").DialContext, DisableKeepAlives: true}}
	var lat []time.Duration
	var fails []string
	for end := time.Now().Add(length); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		start := time.Now()
		err := getHealthz(probe, addr)
		if err != nil {
			fails = append(fails, err.Error())
			continue
		}
		lat = append(lat, time.Since(start))
	}
	close(stop)
	wg.Wait()
	d := <-dl
	if len(lat) == 0 {
		t.Fatalf("no /healthz answered; failures: %v", fails[:min(5, len(fails))])
	}
	slices.Sort(lat)
	t.Logf("stalled readers: %d connections opened for %s, %d held at a time", opened.Load(), path, held)
	t.Logf("/healthz from 127.0.0.2, a new connection each: %d answered, %d failed; p50 %v, p99 %v, max %v",
		len(lat), len(fails), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	t.Logf("download from 127.0.0.3: %d of %d bytes in %v, %v", d.n, d.want, d.took, d.err)
	if len(fails) > 0 {
		t.Errorf("/healthz failures, first: %s", fails[0])
	}
	if d.err != nil || d.n != d.want || d.n <= 0 {
		t.Errorf("download: %d of %d bytes, %v", d.n, d.want, d.err)
	}
}

// TestTargetLatencyFlood sends 20,000 junk posts from 20,000 loopback
// addresses, then 100,000 from 10,000, then valid tables from 1,000 more
// (4 each, the burst), each followed by a new client's valid table. With
// EDGETOON_TARGET_LATENCY_DIR and EDGETOON_TARGET_QUOTA (bytes), it
// checks the directory against the quota as it goes.
func TestTargetLatencyFlood(t *testing.T) {
	addr := targetAddr(t)
	url := "http://" + addr + latencyPath
	dir := os.Getenv("EDGETOON_TARGET_LATENCY_DIR")
	var quota int64
	fmt.Sscan(os.Getenv("EDGETOON_TARGET_QUOTA"), &quota)
	peakDisk := int64(0)
	checkDisk := func() {
		if dir == "" {
			return
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var used int64
		for _, e := range entries {
			if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
				used += fi.Size()
			}
		}
		peakDisk = max(peakDisk, used)
		if quota > 0 && used > quota {
			t.Errorf("%d bytes in %s, quota %d", used, dir, quota)
		}
	}
	// flood posts posts, spread over addrs addresses from base on, with
	// 8 workers; body(i) is the i-th post's body.
	flood := func(base, posts, addrs int, body func(i int) string) map[int]int {
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for a := w; a < addrs; a += 8 {
					ip, _, _ := strings.Cut(loopbackAddr(base+a), ":")
					c := clientFrom(ip)
					for i := a; i < posts; i += addrs {
						resp, err := c.Post(url, "application/json", strings.NewReader(body(i)))
						code := -1
						if err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							code = resp.StatusCode
						}
						mu.Lock()
						codes[code]++
						mu.Unlock()
					}
					c.CloseIdleConnections()
					if a%500 == 0 {
						checkDisk()
					}
				}
			})
		}
		wg.Wait()
		return codes
	}
	newClient := func(ip string, median float64) {
		t.Helper()
		b, _ := json.Marshal(validTable(median))
		resp, err := clientFrom(ip).Post(url, "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("new client %s: %v", ip, err)
		}
		var r latencyReply
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Errorf("new client %s: %d %+v", ip, resp.StatusCode, r)
		}
		t.Logf("new client %s: %d", ip, resp.StatusCode)
	}
	junk := func(int) string { return `{"schema":"edgetoon-latency/1","rows":[]}` }
	for k, c := range []struct{ base, posts, addrs int }{{0, 20000, 20000}, {100000, 100000, 10000}} {
		start := time.Now()
		codes := flood(c.base, c.posts, c.addrs, junk)
		t.Logf("%d junk posts from %d addresses in %v: %v", c.posts, c.addrs, time.Since(start).Round(time.Millisecond), codes)
		newClient(fmt.Sprintf("127.250.0.%d", k+1), 0.5+float64(k))
	}
	// Valid tables, all different, until the quota has turned over.
	start := time.Now()
	codes := flood(200000, 4000, 1000, func(i int) string {
		b, _ := json.Marshal(validTable(1 + float64(i)/1000))
		return string(b)
	})
	t.Logf("4,000 valid tables from 1,000 addresses in %v: %v", time.Since(start).Round(time.Millisecond), codes)
	checkDisk()
	newClient("127.250.0.9", 0.25)
	checkDisk()
	if dir != "" {
		t.Logf("latency dir peak %d bytes (quota %d)", peakDisk, quota)
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// getHealthz reads /healthz from addr in full: an error unless it answers 200.
func getHealthz(c *http.Client, addr string) error {
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}
