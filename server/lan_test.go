package server

import (
	"net"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQR(t *testing.T) {
	qr, err := QR("https://192.168.1.23:8443/")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(qr, "\n"), "\n")
	if len(lines) < 10 {
		t.Fatalf("%d lines:\n%s", len(lines), qr)
	}
	width := utf8.RuneCountInString(lines[0])
	for i, l := range lines {
		if utf8.RuneCountInString(l) != width {
			t.Errorf("line %d is %d wide, line 0 %d", i, utf8.RuneCountInString(l), width)
		}
	}
	if !strings.ContainsAny(qr, "█▀▄") || !strings.Contains(qr, " ") {
		t.Errorf("no modules drawn:\n%s", qr)
	}
	t.Logf("\n%s", qr)
}

func TestURLs(t *testing.T) {
	lan := []net.IP{net.ParseIP("192.168.1.23"), net.ParseIP("fd00::7")}
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		addr   string
		local  string
		remote string
	}{
		{"[::]:8443", "https://localhost:8443/", "https://192.168.1.23:8443/ https://[fd00::7]:8443/"},
		{"0.0.0.0:8443", "https://localhost:8443/", "https://192.168.1.23:8443/"},
		{"127.0.0.1:8443", "https://localhost:8443/", ""},
		{"192.168.1.23:8443", "https://192.168.1.23:8443/", "https://192.168.1.23:8443/"},
	} {
		local, remote := URLs("https", tcp(tc.addr), lan)
		if local != tc.local || strings.Join(remote, " ") != tc.remote {
			t.Errorf("URLs(%s) = %s %v, want %s %s", tc.addr, local, remote, tc.local, tc.remote)
		}
	}
}

func TestLANAddrs(t *testing.T) {
	ips, err := LANAddrs()
	if err != nil {
		t.Fatal(err)
	}
	seenV6 := false
	for _, ip := range ips {
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || !ip.IsGlobalUnicast() {
			t.Errorf("%s is not a LAN address", ip)
		}
		if ip.To4() == nil {
			seenV6 = true
		} else if seenV6 {
			t.Errorf("IPv4 %s after an IPv6 address", ip)
		}
	}
	hosts := CertHosts(ips)
	if len(hosts) != 3+len(ips) || hosts[0] != "localhost" || hosts[1] != "127.0.0.1" {
		t.Errorf("CertHosts = %v", hosts)
	}
	t.Logf("LAN addresses: %v", ips)
}
