package server

import (
	"fmt"
	"net"
	"slices"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// LANAddrs lists the machine's addresses that a phone on the same network
// can reach: every up, non-loopback interface's global unicast addresses,
// IPv4 first. Link-local addresses are left out: their URLs need a zone.
func LANAddrs() ([]net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("network interfaces: %w", err)
	}
	var ips []net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // an interface that vanished meanwhile
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
				ips = append(ips, n.IP)
			}
		}
	}
	slices.SortStableFunc(ips, func(a, b net.IP) int {
		return boolInt(a.To4() == nil) - boolInt(b.To4() == nil)
	})
	return ips, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CertHosts are the names a self-signed certificate must cover: the
// loopback names and the LAN addresses.
func CertHosts(lan []net.IP) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, ip := range lan {
		hosts = append(hosts, ip.String())
	}
	return hosts
}

// URLs returns the URLs under which a server listening on addr (as
// reported by its listener) can be opened: the loopback one first, then
// one per LAN address when it listens on every interface.
func URLs(scheme string, addr net.Addr, lan []net.IP) (local string, remote []string) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String() + "/", nil
	}
	u := func(h string) string { return scheme + "://" + net.JoinHostPort(h, port) + "/" }
	ip := net.ParseIP(host)
	if ip != nil && !ip.IsUnspecified() {
		if ip.IsLoopback() {
			return u("localhost"), nil
		}
		return u(host), []string{u(host)}
	}
	for _, l := range lan {
		if ip != nil && ip.To4() != nil && l.To4() == nil {
			continue // an IPv4-only listener is not reachable over IPv6
		}
		remote = append(remote, u(l.String()))
	}
	return u("localhost"), remote
}

// QR draws text as a QR code in Unicode half blocks for a terminal. The
// light modules are the drawn blocks, so it scans on the usual light-on-
// dark terminal.
func QR(text string) (string, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	s := q.ToSmallString(false)
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("qr code: empty drawing for %q", text)
	}
	return s, nil
}
