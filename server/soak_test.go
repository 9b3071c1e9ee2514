package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak runs normal, slow and hostile clients against a hardened
// server on loopback for EDGETOON_SOAK (a duration; 10s when unset) and
// checks that /healthz from another address keeps answering, quickly,
// that the connection cap holds, and that the heap stays flat. Skipped
// with -short.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	length := 10 * time.Second
	if v := os.Getenv("EDGETOON_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("EDGETOON_SOAK=%q: %v", v, err)
		}
		length = d
	}
	lim := DefaultLimits()
	lim.MaxConns, lim.MaxConnsPerClient = 96, 16
	lim.WriteFloor, lim.MinRate = time.Second, 64<<10
	lim.ReadHeaderTimeout, lim.IdleTimeout = 2*time.Second, 5*time.Second
	addr, cl, model := hardened(t, 8<<20, lim, Config{LatencyDir: t.TempDir(), LatencyQuota: 1 << 20})
	dialFrom(t, "127.0.0.2", addr).Close() // skips where loopback aliases are missing

	ctx, cancel := context.WithTimeout(context.Background(), length)
	defer cancel()
	var wg sync.WaitGroup
	var errs sync.Map // what went wrong for normal clients, by kind
	fail := func(kind string, err error) { errs.LoadOrStore(kind, err) }
	loop := func(n int, f func(i, round int)) {
		for i := range n {
			wg.Go(func() {
				for round := 0; ctx.Err() == nil; round++ {
					f(i, round)
				}
			})
		}
	}
	pause := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}

	// Normal clients: the page, compressed, and the model in full.
	loop(3, func(i, round int) {
		c := clientFrom(fmt.Sprintf("127.0.2.%d", i+1))
		defer c.CloseIdleConnections()
		for _, p := range []string{"/", "/app.js", "/models/index.json", "/models/big.safetensors"} {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+p, nil)
			req.Header.Set("Accept-Encoding", "br, gzip")
			resp, err := c.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					fail("normal "+p, err)
				}
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if ctx.Err() == nil && (err != nil || resp.StatusCode != 200 || (p == "/models/big.safetensors" && n != int64(len(model)))) {
				fail("normal "+p, fmt.Errorf("%d, %d bytes, %v", resp.StatusCode, n, err))
			}
		}
		pause(200 * time.Millisecond)
	})
	// Slow readers: the model at 320 KB/s, above MinRate.
	loop(2, func(i, round int) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/models/big.safetensors", nil)
		c := clientFrom(fmt.Sprintf("127.0.3.%d", i+1))
		c.Timeout = 0 // slower than the usual limit: the soak's context bounds it
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				fail("slow reader", err)
			}
			return
		}
		defer resp.Body.Close()
		buf := make([]byte, 32<<10)
		for ctx.Err() == nil {
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && ctx.Err() == nil {
					fail("slow reader", err)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// Stalled readers from one address, up to 200 held at once.
	loop(1, func(_, round int) {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for ctx.Err() == nil {
			c, err := dialer("127.0.4.1").DialContext(ctx, "tcp", addr)
			if err == nil {
				c.(*net.TCPConn).SetReadBuffer(4096)
				fmt.Fprintf(c, "GET /models/big.safetensors HTTP/1.1\r\nHost: x\r\n\r\n")
				held = append(held, c)
			}
			if len(held) > 200 {
				held[0].Close()
				held = held[1:]
			}
			pause(10 * time.Millisecond)
		}
	})
	// Slowloris: headers a byte at a time, from 50 addresses.
	loop(10, func(i, round int) {
		c, err := dialer(fmt.Sprintf("127.0.5.%d", (i*7+round)%50+1)).DialContext(ctx, "tcp", addr)
		if err != nil {
			return
		}
		defer c.Close()
		for _, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)) {
			if _, err := c.Write([]byte{b}); err != nil || ctx.Err() != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// Junk and cross-site posts to the latency endpoint, and connections
	// that send nothing, from ever new addresses.
	var junk atomic.Int64
	loop(2, func(i, round int) {
		ip := fmt.Sprintf("127.6.%d.%d", round/250%250, round%250+1)
		c := clientFrom(ip)
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+latencyPath, strings.NewReader(`{"schema":"junk"}`))
		req.Header.Set("Content-Type", "application/json")
		if i == 1 {
			req.Header.Set("Origin", "http://evil.example")
		}
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			junk.Add(1)
		}
		c.CloseIdleConnections()
		if silent, err := dialer(fmt.Sprintf("127.7.%d.%d", round/250%250, round%250+1)).DialContext(ctx, "tcp", addr); err == nil {
			time.AfterFunc(3*time.Second, func() { silent.Close() })
		}
		pause(5 * time.Millisecond)
	})

	// The probe: /healthz from an address of its own, and the heap.
	probe := clientFrom("127.0.0.2")
	var lat []time.Duration
	var probeErrs []error
	var heaps []uint64
	var rss []string
	peak := 0
	nextHeap := time.Now()
	for ctx.Err() == nil {
		start := time.Now()
		err := getHealthz(probe, addr)
		if err != nil {
			if ctx.Err() == nil {
				probeErrs = append(probeErrs, err)
			}
		} else {
			lat = append(lat, time.Since(start))
		}
		peak = max(peak, cl.conns())
		if time.Now().After(nextHeap) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heaps = append(heaps, ms.HeapAlloc)
			rss = append(rss, vmRSS())
			nextHeap = time.Now().Add(length / 10)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()

	errs.Range(func(k, v any) bool {
		t.Errorf("%s: %v", k, v)
		return true
	})
	if len(probeErrs) > 0 {
		t.Errorf("%d of %d /healthz probes failed, first: %v", len(probeErrs), len(probeErrs)+len(lat), probeErrs[0])
	}
	if len(lat) == 0 {
		t.Fatal("no /healthz answered")
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("/healthz: %d probes, p50 %v, p99 %v, max %v; %d junk posts; peak %d connections (cap %d)",
		len(lat), p50, p99, lat[len(lat)-1], junk.Load(), peak, lim.MaxConns)
	t.Logf("heap after GC (MiB) %v; RSS %v", mib(heaps), rss)
	// Not a speed test: a bound far above the normal answer that a
	// stalled accept loop or a full descriptor table would break.
	if p99 > time.Second {
		t.Errorf("/healthz p99 %v", p99)
	}
	if peak > lim.MaxConns {
		t.Errorf("peak %d connections, cap %d", peak, lim.MaxConns)
	}
	// Flat: the last third holds no more than the first third did, give
	// or take the buffers of one download.
	third := max(1, len(heaps)/3)
	early, late := slices.Max(heaps[:third]), slices.Max(heaps[len(heaps)-third:])
	if late > early+early/2+16<<20 {
		t.Errorf("heap grew from %d to %d MiB", early>>20, late>>20)
	}
}

func mib(b []uint64) []uint64 {
	out := make([]uint64, len(b))
	for i, v := range b {
		out[i] = v >> 20
	}
	return out
}

// vmRSS is this process's resident set size from /proc, or "?".
func vmRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}
