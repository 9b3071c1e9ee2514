package server

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/edgetoon/edgetoon/web"
)

// TestShippedAssets checks the real web directory: every versioned
// reference resolves, the service worker precaches only served files,
// the manifest is complete, and the HTML keeps to the CSP.
func TestShippedAssets(t *testing.T) {
	s, err := New(Config{Assets: web.FS, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.Missing(); len(m) > 0 {
		t.Logf("not built here: %v", m)
	}
	for p, a := range s.assets {
		if versionedRef.Match(a.body) || strings.Contains(string(a.body), versionToken) {
			t.Errorf("%s still holds a placeholder", p)
		}
	}

	sw := string(s.assets["/sw.js"].body)
	block := regexp.MustCompile(`(?s)const PRECACHE = \[(.*?)\];`).FindStringSubmatch(sw)
	if block == nil {
		t.Fatal("sw.js has no PRECACHE list")
	}
	urls := regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(block[1], -1)
	want := map[string]bool{"/": true, "/app.js": true, "/core.js": true, "/live.js": true, "/photo.js": true, "/offline.js": true, "/style.css": true,
		"/edgetoon.wasm": true, "/wasm_exec.js": true, "/models/student.safetensors": true}
	for _, u := range urls {
		p, v, _ := strings.Cut(u[1], "?v=")
		a := s.assets[p]
		if a == nil || a.hash != v {
			t.Errorf("sw.js precaches %s, which is not the served version", u[1])
		}
		delete(want, p)
	}
	if !strings.Contains(sw, `const PAGE = "/?v=`+s.assets["/"].hash+`"`) {
		t.Error("sw.js does not name the page's version")
	}
	delete(want, "/")
	for p := range want {
		t.Errorf("sw.js does not precache %s", p)
	}

	var manifest struct {
		Name, ShortName, StartURL, Display, ThemeColor string
		Icons                                          []struct{ Src, Sizes, Type string }
	}
	raw := strings.NewReplacer(`"short_name"`, `"ShortName"`, `"start_url"`, `"StartURL"`, `"theme_color"`, `"ThemeColor"`).
		Replace(string(s.assets["/manifest.webmanifest"].body))
	if err := json.Unmarshal([]byte(raw), &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.Name == "" || manifest.ShortName == "" || manifest.StartURL != "/" || manifest.Display != "standalone" || manifest.ThemeColor == "" {
		t.Errorf("manifest: %+v", manifest)
	}
	sizes := map[string]bool{}
	for _, ic := range manifest.Icons {
		p, _, _ := strings.Cut(ic.Src, "?")
		if s.assets[p] == nil {
			t.Errorf("manifest icon %s is not served", ic.Src)
		}
		sizes[ic.Sizes] = true
	}
	if !sizes["192x192"] || !sizes["512x512"] {
		t.Errorf("manifest icon sizes %v", sizes)
	}

	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=|\sstyle\s*=|<style|javascript:`)
	external := regexp.MustCompile(`(?i)(?:src|href)="(?:https?:)?//`)
	for _, p := range []string{"/", "/embed-demo.html"} {
		// Code samples shown on the page do not count.
		html := regexp.MustCompile(`(?s)<pre>.*?</pre>`).ReplaceAllString(string(s.assets[p].body), "")
		if m := inline.FindString(html); m != "" {
			t.Errorf("%s has inline code or style, which the CSP blocks: %q", p, m)
		}
		if m := external.FindString(html); m != "" {
			t.Errorf("%s loads from another origin: %q", p, m)
		}
	}
}
