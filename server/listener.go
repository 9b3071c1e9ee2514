package server

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connLimiter is a listener that caps the open connections, in all and
// per client network. Accept never waits for room: a connection past a
// cap makes room by closing the connection that has waited longest for a
// request (an idle keep-alive one, or a new one yet to send its first),
// or, when every connection is busy with a request, is closed itself. So
// the accept loop keeps going, and a client with connections to spare,
// such as another address's /healthz, is always answered.
type connLimiter struct {
	net.Listener
	max, perClient int
	sendBuffer     int // SO_SNDBUF of each connection, if > 0

	mu      sync.Mutex
	open    map[*limitedConn]struct{}
	clients map[string]int // open connections per clientNet
}

func newConnLimiter(ln net.Listener, maxConns, perClient int) *connLimiter {
	return &connLimiter{Listener: ln, max: max(1, maxConns), perClient: max(1, perClient),
		open: map[*limitedConn]struct{}{}, clients: map[string]int{}}
}

// limitedConn is a connection the limiter counts until it is closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	key  string
	once sync.Once
	// waiting is when the connection began waiting for a request (at
	// accept, or when it went idle), in Unix nanoseconds; 0 while it
	// serves one.
	waiting atomic.Int64
	// stalled is set when a write ran out of time: the client stopped
	// reading.
	stalled atomic.Bool
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			if tc, ok := c.(*net.TCPConn); ok && l.sendBuffer > 0 {
				tc.SetWriteBuffer(l.sendBuffer) // best effort: a smaller buffer only slows
			}
			return lc, nil
		}
		c.Close()
	}
}

// admit counts c in, making room if need be, or returns nil.
func (l *connLimiter) admit(c net.Conn) *limitedConn {
	key := clientNet(c.RemoteAddr().String())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients[key] >= l.perClient && !l.evictLocked(key) {
		return nil
	}
	if len(l.open) >= l.max && !l.evictLocked("") {
		return nil
	}
	lc := &limitedConn{Conn: c, l: l, key: key}
	lc.waiting.Store(time.Now().UnixNano())
	l.open[lc] = struct{}{}
	l.clients[key]++
	return lc
}

// evictLocked closes the connection of client key (any client if key is
// "") that has waited longest for a request, and says whether there was
// one.
func (l *connLimiter) evictLocked(key string) bool {
	var oldest *limitedConn
	var since int64
	for c := range l.open {
		w := c.waiting.Load()
		if w == 0 || (key != "" && c.key != key) {
			continue
		}
		if oldest == nil || w < since {
			oldest, since = c, w
		}
	}
	if oldest == nil {
		return false
	}
	l.releaseLocked(oldest)
	oldest.Conn.Close() // the server's read fails, and it closes oldest
	return true
}

func (l *connLimiter) releaseLocked(c *limitedConn) {
	c.once.Do(func() {
		delete(l.open, c)
		if l.clients[c.key]--; l.clients[c.key] <= 0 {
			delete(l.clients, c.key)
		}
	})
}

func (c *limitedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.stalled.Store(true)
	}
	return n, err
}

// Close closes the connection and frees its place. The connection of a
// client that stopped reading is reset rather than closed: a close would
// leave the unsent part of the response queued in the kernel, megabytes
// per connection, for as long as the client keeps its window shut.
func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	if tc, ok := c.Conn.(*net.TCPConn); ok && c.stalled.Load() {
		tc.SetLinger(0)
	}
	return c.Conn.Close()
}

// track is the http.Server's ConnState hook: it records which
// connections wait for a request.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	switch state {
	case http.StateIdle:
		lc.waiting.Store(time.Now().UnixNano())
	case http.StateActive, http.StateHijacked:
		lc.waiting.Store(0)
	}
}

// conns is the number of open connections, for tests.
func (l *connLimiter) conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}
