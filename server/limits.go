package server

import (
	"net"
	"net/http"
	"time"
)

// Limits bound what a client can hold of the server, so that a slow or
// hostile one costs a connection, not the server.
type Limits struct {
	// MaxConns caps the open connections; MaxConnsPerClient caps those of
	// one client network (an IPv4 address, an IPv6 /64). A connection
	// past a cap makes room by closing the one (of that client, or of
	// anyone) that has waited longest for a request, idle or new, or is
	// closed at once when all are busy with one.
	MaxConns          int
	MaxConnsPerClient int
	// A response write may take WriteFloor plus its bytes and
	// SendBuffer's at MinRate bytes per second; the deadline moves on
	// with every write, so a client that keeps reading at MinRate gets
	// any size, and one that stops reading is cut off.
	WriteFloor time.Duration
	MinRate    int
	// SendBuffer is the kernel's send buffer per connection (SO_SNDBUF).
	// A writer blocked on a full buffer wakes only when a good part of it
	// has drained, so a write may wait for that much of the client's
	// reading: fixing the size (rather than letting the kernel grow it to
	// megabytes) keeps that wait, and so the time a stalled client holds
	// its connection, short. 0 leaves the kernel's default.
	SendBuffer int
	// ReadHeaderTimeout bounds a request's headers (and a TLS
	// handshake), ReadTimeout the whole request, IdleTimeout the wait
	// for the next request on a kept-alive connection.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
}

// fdReserve is the descriptors kept free of connections: the listener,
// model files read at startup, latency tables being written, the log.
const fdReserve = 64

// DefaultLimits returns limits that fit this process's file descriptor
// limit: connections never take the descriptors the server needs to
// accept the next one.
func DefaultLimits() Limits {
	conns := 4096
	if n := openFileLimit(); n > 0 {
		conns = min(conns, max(16, n-fdReserve))
	}
	return Limits{
		MaxConns:          conns,
		MaxConnsPerClient: min(64, conns/4),
		WriteFloor:        5 * time.Second,
		MinRate:           16 << 10,
		SendBuffer:        128 << 10,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

// Harden returns an http.Server that serves h within lim, and the
// listener, wrapping ln, to serve it on (Serve, or ServeTLS).
func Harden(ln net.Listener, h http.Handler, lim Limits) (*http.Server, net.Listener) {
	cl := newConnLimiter(ln, lim.MaxConns, lim.MaxConnsPerClient)
	cl.sendBuffer = lim.SendBuffer
	hs := &http.Server{
		Handler:           writeDeadlines(h, lim.WriteFloor, lim.MinRate, lim.SendBuffer),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState:         cl.track,
	}
	return hs, cl
}

// writeDeadlines gives every response write of h a deadline of floor
// plus its bytes and slack at rate, and the response as a whole floor to
// start.
func writeDeadlines(h http.Handler, floor time.Duration, rate, slack int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), floor: floor, rate: max(1, rate), slack: slack}
		dw.extend(0)
		h.ServeHTTP(dw, r)
	})
}

// deadlineWriter moves the connection's write deadline on before each
// write. Writers such as ServeContent's copy write at most 32 KiB at a
// time, so the deadline follows the bytes left closely.
type deadlineWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	floor time.Duration
	rate  int
	slack int
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.extend(len(p))
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) extend(n int) {
	d := w.floor + time.Duration(float64(n+w.slack)/float64(w.rate)*float64(time.Second))
	// ErrNotSupported (a writer without a connection) leaves no deadline
	// to set.
	_ = w.rc.SetWriteDeadline(time.Now().Add(d))
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
