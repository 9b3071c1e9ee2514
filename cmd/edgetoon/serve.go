package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/edgetoon/edgetoon/server"
	"github.com/edgetoon/edgetoon/web"
)

const serveUsage = `usage: edgetoon serve [flags]

Serves the stylization page, its engine and models, all embedded in this
binary, plus any models in -models DIR. Phones need HTTPS for the camera:
use -tls and open the printed URL (or scan the QR code) on the phone.

`

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", ":8080", "listen `address`")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a self-signed certificate kept in the user config dir")
	certFile := fs.String("cert", "", "serve HTTPS with this certificate `file` (PEM; with -key)")
	keyFile := fs.String("key", "", "private key `file` for -cert (PEM)")
	models := fs.String("models", "", "also offer the *.safetensors models in `dir`")
	defModel := fs.String("model", "student", "`name` of the model the page starts with (whitebox: the teacher, when built)")
	latencyDir := fs.String("latency-dir", "", "accept latency tables from the /profile page (POST /api/latency) into `dir`; off without it")
	latencyQuota := fs.Int64("latency-quota", server.DefaultLatencyQuota>>20, "keep at most this many `MiB` of tables in -latency-dir, removing the oldest")
	latencyHosts := fs.String("latency-hosts", "", "comma-separated host `names` under which tables are accepted, besides localhost and the server's addresses (a reverse proxy's name)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("serve: -cert and -key go together")
	}

	if *latencyQuota < 1 {
		return fmt.Errorf("serve: -latency-quota %d: want at least 1 MiB", *latencyQuota)
	}
	var hosts []string
	for h := range strings.SplitSeq(*latencyHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	srv, err := server.New(server.Config{
		Assets:       web.FS,
		ModelDir:     *models,
		DefaultModel: *defModel,
		LatencyDir:   *latencyDir,
		LatencyQuota: *latencyQuota << 20,
		LatencyHosts: hosts,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// Compressing the engine takes a few hundred megabytes that are
	// garbage once the asset set is ready: give them back now rather
	// than whenever the scavenger gets to them.
	debug.FreeOSMemory()
	if *latencyDir != "" {
		log.Printf("collecting latency tables from /profile into %s (POST /api/latency), at most %d MiB", *latencyDir, *latencyQuota)
	}
	for _, p := range srv.Missing() {
		log.Printf("warning: %s is missing from this binary: run `make` and rebuild; the page will say so", p)
	}

	lan, err := server.LANAddrs()
	if err != nil {
		log.Printf("warning: %v (no LAN URLs)", err)
	}
	var tlsConfig *tls.Config
	switch {
	case *certFile != "":
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	case *useTLS:
		dir, err := server.CertDir()
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		cert, reused, err := server.SelfSigned(dir, server.CertHosts(lan), time.Now())
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		if !reused {
			log.Printf("made a self-signed certificate in %s; browsers warn about it once per device", dir)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	printURLs(scheme, ln.Addr(), lan)

	// Slow and stalled clients are cut off, and connections capped to fit
	// the descriptor limit (server.Limits).
	limits := server.DefaultLimits()
	log.Printf("at most %d connections, %d per client network (the descriptor limit allows it)", limits.MaxConns, limits.MaxConnsPerClient)
	hs, hln := server.Harden(ln, srv, limits)
	hs.TLSConfig = tlsConfig
	hs.ErrorLog = log.Default()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- hs.ServeTLS(hln, "", "") // ServeTLS also offers HTTP/2
		} else {
			errc <- hs.Serve(hln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop() // a second Ctrl-C kills at once
	log.Print("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// printURLs tells the user where to point a browser, with a QR code of
// the first LAN URL for a phone.
func printURLs(scheme string, addr net.Addr, lan []net.IP) {
	local, remote := server.URLs(scheme, addr, lan)
	fmt.Printf("edgetoon is serving on %s\n", local)
	if len(remote) == 0 {
		return
	}
	fmt.Println("On a phone on the same network, open:")
	for _, u := range remote {
		fmt.Println("  " + u)
	}
	if scheme == "http" {
		fmt.Println("Phones allow the camera only over HTTPS: restart with -tls for them (photo mode works anyway).")
	}
	if qr, err := server.QR(remote[0]); err == nil {
		fmt.Print(qr)
	}
}
