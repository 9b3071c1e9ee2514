// Package docs_test checks the repository's user documentation as a
// reader meets it: the README stays a short guide, and every relative link
// in it and in the docs resolves, down to the heading an anchor names.
package docs_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// maxReadmeLines keeps the README a user's guide (issue 18); measurements
// and their history belong in docs/.
const maxReadmeLines = 200

func TestReadmeLength(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n > maxReadmeLines {
		t.Errorf("README.md has %d lines, want at most %d: move detail to docs/", n, maxReadmeLines)
	}
}

// TestLinks checks every relative link and image in the README, the docs
// and the bench README: the file or folder exists, and a #fragment names a
// heading of the Markdown file it points to.
func TestLinks(t *testing.T) {
	files := []string{"../README.md", "../bench/README.md"}
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, docs...)
	for _, f := range files {
		links, err := relativeLinks(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if err := checkLink(f, l.target); err != nil {
				t.Errorf("%s:%d: %v", f, l.line, err)
			}
		}
	}
}

type link struct {
	line   int
	target string
}

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	htmlSrc = regexp.MustCompile(`<(?:img|a)\s[^>]*(?:src|href)="([^"]+)"`)
	scheme  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// relativeLinks returns the link targets of a Markdown file that are not
// URLs with a scheme, outside fenced code blocks.
func relativeLinks(path string) ([]link, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	var links []link
	fenced := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		var found [][]string
		found = append(found, mdLink.FindAllStringSubmatch(line, -1)...)
		found = append(found, htmlSrc.FindAllStringSubmatch(line, -1)...)
		for _, m := range found {
			if !scheme.MatchString(m[1]) {
				links = append(links, link{n, m[1]})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return links, nil
}

// checkLink resolves target relative to the file that holds it.
func checkLink(from, target string) error {
	path, frag, _ := strings.Cut(target, "#")
	file := from
	if path != "" {
		file = filepath.Join(filepath.Dir(from), filepath.FromSlash(path))
		if _, err := os.Stat(file); err != nil {
			return fmt.Errorf("link %q: %w", target, err)
		}
	}
	if frag == "" {
		return nil
	}
	if !strings.HasSuffix(file, ".md") {
		return fmt.Errorf("link %q: an anchor into a file that is not Markdown", target)
	}
	anchors, err := headingAnchors(file)
	if err != nil {
		return err
	}
	if !anchors[frag] {
		return fmt.Errorf("link %q: %s has no heading with anchor #%s", target, file, frag)
	}
	return nil
}

// headingAnchors returns the anchors GitHub gives the ATX headings of a
// Markdown file (see anchor).
func headingAnchors(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		text, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if fenced || !strings.HasPrefix(line, "#") || !ok {
			continue
		}
		a := anchor(text)
		// A repeated heading gets -1, -2, ... as on GitHub.
		if k := seen[a]; k > 0 {
			anchors[fmt.Sprintf("%s-%d", a, k)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors, nil
}

// anchor is GitHub's slug of a heading: inline-code backticks and every
// character but letters, digits, spaces, hyphens and underscores dropped,
// lower-cased, spaces turned to hyphens.
func anchor(heading string) string {
	var sb strings.Builder
	for _, r := range strings.TrimSpace(heading) {
		switch {
		case r == ' ':
			sb.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			sb.WriteRune(unicode.ToLower(r))
		}
	}
	return sb.String()
}

// TestAnchor pins anchor to slugs GitHub gave these headings.
func TestAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		`A note on "fraction of peak"`:                         "a-note-on-fraction-of-peak",
		"What is in `latency/`":                                "what-is-in-latency",
		"Against other in-browser runtimes (make bench-peers)": "against-other-in-browser-runtimes-make-bench-peers",
		"Speed, in short":                                      "speed-in-short",
		"Dependencies, and why not others":                     "dependencies-and-why-not-others",
		"train/: search, distil_and export":                    "train-search-distil_and-export",
	} {
		if got := anchor(heading); got != want {
			t.Errorf("anchor(%q) = %q, want %q", heading, got, want)
		}
	}
}

// TestCheckLinkCatches makes sure a broken file link and a broken anchor
// are reported, and good ones are not.
func TestCheckLinkCatches(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "a.md")
	text := "# Title\n\n## Two words\n\n```\n# not a heading\n```\n[x](b.md) [y](a.md#two-words) [z](#nope) [w](#not-a-heading) <img src=\"c.jpg\">\n"
	if err := os.WriteFile(doc, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	links, err := relativeLinks(doc)
	if err != nil {
		t.Fatal(err)
	}
	var broken []string
	for _, l := range links {
		if checkLink(doc, l.target) != nil {
			broken = append(broken, l.target)
		}
	}
	want := []string{"b.md", "#nope", "#not-a-heading", "c.jpg"}
	if fmt.Sprint(broken) != fmt.Sprint(want) {
		t.Errorf("broken links %v, want %v", broken, want)
	}
}
