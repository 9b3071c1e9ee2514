package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
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
	// A client network (clientNet) may send latencyBurst tables at once,
	// then one per latencyRefill.
	latencyBurst  = 4
	latencyRefill = 15 * time.Second
	// maxLatencyClients bounds the rate limiter's memory.
	maxLatencyClients = 10000
	// maxStoredTables bounds the directory's file count, as
	// Config.LatencyQuota does its bytes.
	maxStoredTables = 10000
)

// DefaultLatencyQuota is the bytes of tables kept when Config.LatencyQuota
// is zero.
const DefaultLatencyQuota = 256 << 20

// latencyStore receives latency tables.
type latencyStore struct {
	hosts   []string // names besides localhost that Host may give
	limiter *rateLimiter
	tables  *tableStore
	logf    func(format string, args ...any)
}

func newLatencyStore(dir string, quota int64, hosts []string, logf func(string, ...any)) (*latencyStore, error) {
	tables, err := openTableStore(dir, quota, maxStoredTables, logf)
	if err != nil {
		return nil, err
	}
	return &latencyStore{hosts: hosts, limiter: newRateLimiter(latencyBurst, latencyRefill, maxLatencyClients), tables: tables, logf: logf}, nil
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
	if err := checkHost(r, st.hosts); err != nil {
		replyJSON(w, http.StatusForbidden, latencyReply{Error: err.Error()})
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		replyJSON(w, http.StatusUnsupportedMediaType, latencyReply{Error: "content type must be application/json"})
		return
	}
	if ok, wait := st.limiter.allow(clientNet(r.RemoteAddr), time.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		replyJSON(w, http.StatusTooManyRequests, latencyReply{Error: "too many tables from this network: try again later"})
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
	name, created, err := st.tables.store(t)
	switch {
	case errors.Is(err, errTooLarge):
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
