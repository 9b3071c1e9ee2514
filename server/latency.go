package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgetoon/edgetoon/latency"
)

// latencyPath is the collection endpoint: POST a latency table (JSON,
// schema latency.Schema) and the server stores it under Config.LatencyDir
// as <sha256 of its canonical form>.json. It is the server's only write
// endpoint and exists only when LatencyDir is set.
const latencyPath = "/api/latency"

// Limits of the collection endpoint.
const (
	// A client (by IP address) may send latencyBurst tables at once, then
	// one per latencyRefill.
	latencyBurst  = 4
	latencyRefill = 15 * time.Second
	// maxLatencyClients bounds the rate limiter's memory: past it, idle
	// clients are forgotten, and if all are busy new ones are refused.
	maxLatencyClients = 10000
	// maxStoredTables bounds the directory: past it, tables are refused.
	maxStoredTables = 10000
)

// storedName is the only form of file name the endpoint writes.
var storedName = regexp.MustCompile(`^[0-9a-f]{64}\.json$`)

// latencyStore receives latency tables.
type latencyStore struct {
	dir     string
	limiter *rateLimiter
	mu      sync.Mutex // serializes the count and the writes
	stored  int
	logf    func(format string, args ...any)
}

func newLatencyStore(dir string, logf func(string, ...any)) (*latencyStore, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("latency dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("latency dir %s: not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("latency dir: %w", err)
	}
	st := &latencyStore{dir: dir, limiter: newRateLimiter(latencyBurst, latencyRefill, maxLatencyClients), logf: logf}
	for _, e := range entries {
		if storedName.MatchString(e.Name()) {
			st.stored++
		}
	}
	return st, nil
}

// latencyReply is the endpoint's JSON answer.
type latencyReply struct {
	Name    string `json:"name,omitempty"`
	Created bool   `json:"created"` // false: an identical table was there already
	Rows    int    `json:"rows,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (st *latencyStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		replyJSON(w, http.StatusMethodNotAllowed, latencyReply{Error: "method not allowed: POST a latency table"})
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		replyJSON(w, http.StatusUnsupportedMediaType, latencyReply{Error: "content type must be application/json"})
		return
	}
	if ok, wait := st.limiter.allow(clientIP(r), time.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		replyJSON(w, http.StatusTooManyRequests, latencyReply{Error: "too many tables from this address: try again later"})
		return
	}
	if r.ContentLength > latency.MaxTableBytes {
		replyJSON(w, http.StatusRequestEntityTooLarge, latencyReply{Error: fmt.Sprintf("table larger than %d bytes", latency.MaxTableBytes)})
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, latency.MaxTableBytes+1))
	if err != nil {
		replyJSON(w, http.StatusBadRequest, latencyReply{Error: "reading the table: " + err.Error()})
		return
	}
	if len(data) > latency.MaxTableBytes {
		replyJSON(w, http.StatusRequestEntityTooLarge, latencyReply{Error: fmt.Sprintf("table larger than %d bytes", latency.MaxTableBytes)})
		return
	}
	t, err := latency.Parse(data)
	if err != nil {
		replyJSON(w, http.StatusBadRequest, latencyReply{Error: err.Error()})
		return
	}
	name, created, err := st.store(t)
	switch {
	case errors.Is(err, errStoreFull):
		replyJSON(w, http.StatusInsufficientStorage, latencyReply{Error: err.Error()})
	case err != nil:
		st.logf("latency: storing a table: %v", err)
		replyJSON(w, http.StatusInternalServerError, latencyReply{Error: "could not store the table"})
	case created:
		st.logf("latency: stored %s (%d rows, %s) from %s", name, len(t.Rows), t.Device.Renderer, clientIP(r))
		replyJSON(w, http.StatusCreated, latencyReply{Name: name, Created: true, Rows: len(t.Rows)})
	default:
		replyJSON(w, http.StatusOK, latencyReply{Name: name, Created: false, Rows: len(t.Rows)})
	}
}

var errStoreFull = errors.New("this server holds as many tables as it accepts")

// store writes t's canonical encoding as <hash>.json, atomically: the
// bytes go to a temporary file in the same directory, which is then
// hard-linked to its final name. A link never replaces an existing file,
// so a table is never overwritten, and readers never see a partial one.
// created is false when the same table was stored before.
func (st *latencyStore) store(t *latency.Table) (name string, created bool, err error) {
	hash, err := t.Hash()
	if err != nil {
		return "", false, err
	}
	data, err := t.Canonical()
	if err != nil {
		return "", false, err
	}
	name = hash + ".json"
	if !storedName.MatchString(name) { // cannot happen: hash is hex
		return "", false, fmt.Errorf("bad name %q", name)
	}
	final := filepath.Join(st.dir, name)
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, err := os.Lstat(final); err == nil {
		return name, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if st.stored >= maxStoredTables {
		return "", false, errStoreFull
	}
	tmp, err := os.CreateTemp(st.dir, ".upload-*.tmp")
	if err != nil {
		return "", false, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", false, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", false, err
	}
	if err := os.Link(tmp.Name(), final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return name, false, nil
		}
		return "", false, err
	}
	st.stored++
	return name, true, nil
}

func replyJSON(w http.ResponseWriter, code int, v latencyReply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// clientIP is the address the request came from. Forwarding headers are
// ignored: anyone can write them.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return strings.ToLower(host)
}

// rateLimiter is a token bucket per client: burst tokens, one more every
// refill, a request takes one.
type rateLimiter struct {
	mu         sync.Mutex
	burst      float64
	refill     time.Duration
	maxClients int
	clients    map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(burst int, refill time.Duration, maxClients int) *rateLimiter {
	return &rateLimiter{burst: float64(burst), refill: refill, maxClients: maxClients, clients: map[string]*bucket{}}
}

// allow takes a token from key's bucket at time now; when there is none,
// it says how long until there is.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[key]
	if b == nil {
		if len(l.clients) >= l.maxClients {
			l.forgetIdle(now)
			if len(l.clients) >= l.maxClients {
				return false, l.refill
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.clients[key] = b
	}
	if dt := now.Sub(b.at); dt > 0 {
		b.tokens = min(l.burst, b.tokens+float64(dt)/float64(l.refill))
	}
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.refill))
	}
	b.tokens--
	return true, 0
}

// forgetIdle drops the clients whose buckets have refilled: forgetting
// them changes nothing.
func (l *rateLimiter) forgetIdle(now time.Time) {
	for k, b := range l.clients {
		if b.tokens+float64(now.Sub(b.at))/float64(l.refill) >= l.burst {
			delete(l.clients, k)
		}
	}
}
