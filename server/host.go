package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// checkHost says why r may not reach the write endpoint. Its Host must
// name this server as the client reached it: the IP address the
// connection arrived at, or localhost (and other loopback addresses) when
// it arrived over loopback, or one of hosts. An Origin, if sent, must be
// this same origin.
//
// Why: a page on another site can make a visitor's browser send requests
// to a server on the visitor's LAN. Cross-origin, the browser says so in
// Origin. Through a DNS name the attacker rebinds to the LAN address the
// request is same-origin, but it carries that name as Host.
func checkHost(r *http.Request, hosts []string) error {
	name := r.Host
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if !hostAllowed(name, r, hosts) {
		return fmt.Errorf("host %q does not name this server: use the address it printed", r.Host)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil // not a browser's cross-origin request
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != scheme || !strings.EqualFold(u.Host, r.Host) || u.User != nil || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("origin %q is not this server's", origin)
	}
	return nil
}

// hostAllowed applies checkHost's rule to a Host without its port.
func hostAllowed(name string, r *http.Request, hosts []string) bool {
	if slices.ContainsFunc(hosts, func(h string) bool { return strings.EqualFold(h, name) }) {
		return true
	}
	// Without a connection (a handler called directly), count it as a
	// loopback one.
	local, known := localIP(r)
	loopback := !known || local.IsLoopback()
	if isLocalhost(name) {
		return loopback
	}
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	return (known && ip == local) || (loopback && ip.IsLoopback())
}

// localIP is the address of this server that r's connection arrived at.
func localIP(r *http.Request) (netip.Addr, bool) {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap().WithZone(""), true
}

// isLocalhost says whether a Host header names localhost.
func isLocalhost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
