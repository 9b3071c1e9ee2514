package server

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"
)

// clientNet names the network a remote address belongs to, the unit the
// server limits: an IPv4 address, or the /64 of an IPv6 address, since
// one IPv6 host typically holds a whole /64 and can pick any address in
// it. IPv4-mapped IPv6 addresses count as IPv4. An address that does not
// parse is its own key.
func clientNet(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return remoteAddr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64) // cannot fail: 64 bits of an IPv6 address
	return p.String()
}

// rateLimiter is a token bucket per client: burst tokens, one more every
// refill, a request takes one.
//
// Its memory is bounded by maxClients buckets. A new client always gets a
// bucket: when the table is full, the least recently seen client is
// forgotten. So no number of clients can lock out another one; a client
// forgotten that way gets a full bucket when it returns, which gives a
// flood of addresses nothing it could not have had with each address
// once.
type rateLimiter struct {
	mu         sync.Mutex
	burst      float64
	refill     time.Duration
	maxClients int
	clients    map[string]*list.Element // of *bucket
	recent     *list.List               // most recently seen first
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time
}

func newRateLimiter(burst int, refill time.Duration, maxClients int) *rateLimiter {
	return &rateLimiter{burst: float64(burst), refill: refill, maxClients: max(1, maxClients),
		clients: map[string]*list.Element{}, recent: list.New()}
}

// allow takes a token from key's bucket at time now; when there is none,
// it says how long until there is.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if e := l.clients[key]; e != nil {
		l.recent.MoveToFront(e)
		b = e.Value.(*bucket)
	} else {
		for len(l.clients) >= l.maxClients {
			oldest := l.recent.Back()
			l.recent.Remove(oldest)
			delete(l.clients, oldest.Value.(*bucket).key)
		}
		b = &bucket{key: key, tokens: l.burst, at: now}
		l.clients[key] = l.recent.PushFront(b)
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
