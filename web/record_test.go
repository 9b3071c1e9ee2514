package web_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// needFFmpeg skips the test where Debian's ffmpeg is not installed (fails
// it under CI, which must have it).
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed (apt-get install ffmpeg)", tool)
			}
			t.Skipf("%s is not installed (apt-get install ffmpeg)", tool)
		}
	}
}

// checkVideo decodes a downloaded recording (data) and checks it: the
// canvas's size (w, h), stopped by a limit of limit seconds, and moving
// (>= 3 distinct frames). Its length may run from half a second short of
// the limit (the first frame comes after the start) to 1.5 s past it (on
// a loaded machine the last frame comes late and lasts until the recorder
// stops; without the limit the recording would run on to 30 s).
func checkVideo(t *testing.T, data []byte, canvas []int, limit float64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.webm")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	w, h, sec, distinct := probeVideo(t, path)
	t.Logf("recording: %d bytes, %dx%d, %.2f s, %d distinct frames; canvas %dx%d", len(data), w, h, sec, distinct, canvas[0], canvas[1])
	if w != canvas[0] || h != canvas[1] {
		t.Errorf("video %dx%d, canvas %dx%d", w, h, canvas[0], canvas[1])
	}
	if sec < limit-0.5 || sec > limit+1.5 {
		t.Errorf("video lasts %.2f s, want %.1f-%.1f", sec, limit-0.5, limit+1.5)
	}
	if distinct < 3 {
		t.Errorf("%d distinct frames, want >= 3", distinct)
	}
}

// probeVideo decodes the video at path with Debian's ffmpeg and returns
// its frame size, the time from its first frame to the end of its last,
// in seconds, and its number of distinct decoded frames.
func probeVideo(t *testing.T, path string) (w, h int, seconds float64, distinct int) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	dims := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(dims) < 2 {
		t.Fatalf("ffprobe: %q", out)
	}
	w, _ = strconv.Atoi(dims[0])
	h, _ = strconv.Atoi(dims[1])
	// framemd5: one line per decoded frame, "stream, dts, pts, duration,
	// size, md5", times in the time base of its "#tb 0: 1/N" line.
	out, err = exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v:0", "-f", "framemd5", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v", path, err)
	}
	tb := 1.0
	first, end := -1.0, 0.0
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "#tb 0: "); ok {
			num, den, _ := strings.Cut(rest, "/")
			n, _ := strconv.ParseFloat(num, 64)
			d, _ := strconv.ParseFloat(den, 64)
			tb = n / d
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 6 {
			continue
		}
		pts, _ := strconv.ParseFloat(strings.TrimSpace(f[2]), 64)
		dur, _ := strconv.ParseFloat(strings.TrimSpace(f[3]), 64)
		if first < 0 {
			first = pts * tb
		}
		end = max(end, (pts+dur)*tb)
		seen[strings.TrimSpace(f[5])] = true
	}
	return w, h, end - first, len(seen)
}

// recordPage opens the page (the stand-in engine) on the fake camera at
// the 256 px detail and waits for its frames (256x192); it returns the
// session, the function that waits for its next download and the
// server's URL.
func recordPage(t *testing.T) (*session, func() []byte, string) {
	t.Helper()
	needFFmpeg(t)
	_, url := serve(t, fakeFS(t), fakeInspect)
	s := open(t, chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true))
	next := s.downloads(t)
	s.do(t, desktop(), chromedp.Navigate(url+"/?size=256"))
	s.wait(t, "the frame readout", `document.getElementById("readout").textContent.includes("fps") && document.getElementById("readout").textContent.includes("256×192")`)
	return s, next, url
}

// TestRecord records the live (fake) cartoon for 5 s (a test hook
// shortens the 30 s limit, which then stops the recording by itself):
// the downloaded video decodes at the canvas's size, lasts 4.5-5.5 s and
// shows the camera moving. Nothing is uploaded.
func TestRecord(t *testing.T) {
	s, next, url := recordPage(t)
	if eval[bool](t, s, `document.getElementById("record").hidden`) {
		t.Fatal("no record button: this browser records no video?")
	}
	s.do(t, chromedp.Evaluate[chromedp.Void](`globalThis.edgetoonRecordLimitMs = 5000`), chromedp.Click(chromedp.CSS("#record")))
	s.wait(t, "the timer", `document.getElementById("record").textContent.includes("0:00 / 0:05")`)
	data := next()
	checkVideo(t, data, eval[[]int](t, s, `[out.width, out.height]`), 5)
	t.Logf("status %q", eval[string](t, s, `document.getElementById("status").textContent`))
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, url)
}

// TestWidgetRecord records a camera widget on a page of another origin,
// as TestRecord does the page: the video is the widget's cartoon canvas,
// 3 s long, moving; the recorder's messages stay off the picture, and the
// record button goes with the camera.
func TestWidgetRecord(t *testing.T) {
	needFFmpeg(t)
	_, edge := serve(t, fakeFS(t), fakeInspect)
	host := thirdPartyPage(t, fmt.Sprintf(`<script type="module" src="%s/widget.js"></script>
<edge-toon id="w" size="192"></edge-toon>`, edge))
	s := open(t, chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true))
	next := s.downloads(t)
	s.do(t, desktop(), chromedp.Navigate(host.URL))
	const root = `document.getElementById("w").shadowRoot`
	s.wait(t, "the widget", `!!customElements.get("edge-toon") && !!`+root+`.querySelector(".rec")`)
	if !eval[bool](t, s, root+`.querySelector(".rec").hidden`) {
		t.Error("record button shown before the camera runs")
	}
	s.do(t, chromedp.Evaluate[chromedp.Void](root+`.querySelector(".start").click()`))
	s.wait(t, "the frame readout", root+`.querySelector(".fps").textContent.includes("fps")`)
	if eval[bool](t, s, root+`.querySelector(".rec").hidden`) {
		t.Fatal("no record button while the camera runs: this browser records no video?")
	}
	s.do(t, chromedp.Evaluate[chromedp.Void](`globalThis.edgetoonRecordLimitMs = 3000; `+root+`.querySelector(".rec").click()`))
	s.wait(t, "the note", root+`.querySelector(".note").textContent === "Recording…" && `+root+`.querySelector(".msg").textContent === ""`)
	s.screenshot(t, "widget-recording")
	data := next()
	s.wait(t, "the saved note", root+`.querySelector(".note").textContent === "Saved the video."`)
	canvas := eval[[]int](t, s, `[`+root+`.querySelector(".out").width, `+root+`.querySelector(".out").height]`)
	checkVideo(t, data, canvas, 3)
	// Save PNG keeps the next camera frame, at the canvas's size.
	s.do(t, chromedp.Evaluate[chromedp.Void](root+`.querySelector(".save").click()`))
	if b := decodePNG(t, next()).Bounds(); b.Dx() != canvas[0] || b.Dy() != canvas[1] {
		t.Errorf("saved PNG %v, canvas %dx%d", b, canvas[0], canvas[1])
	}
	s.do(t, chromedp.Evaluate[chromedp.Void](root+`.querySelector(".start").click()`)) // stop the camera
	s.wait(t, "the record button to go", root+`.querySelector(".rec").hidden`)
	if errs := s.errors(host.URL + "/favicon.ico"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	s.checkRequests(t, edge, host.URL)
}

// TestRecordHoldsSize changes the detail in the middle of a recording: the
// recording keeps the size it started at (a video whose frames change
// size is one some players and MP4 recorders cannot handle), every frame
// of it 256x192, and the new detail takes over once it ends.
func TestRecordHoldsSize(t *testing.T) {
	s, next, _ := recordPage(t)
	s.do(t, chromedp.Evaluate[chromedp.Void](`globalThis.edgetoonRecordLimitMs = 4000`), chromedp.Click(chromedp.CSS("#record")))
	s.wait(t, "a second recorded", `document.getElementById("record").textContent.includes("0:01 / 0:04")`)
	s.do(t, chromedp.SetValue(chromedp.CSS("#size"), "512"), chromedp.Evaluate[chromedp.Void](`document.getElementById("size").dispatchEvent(new Event("change"))`))
	// Frames go on at the recording's size.
	s.do(t, chromedp.Sleep(500*time.Millisecond))
	if d := eval[[]int](t, s, `[out.width, out.height]`); d[0] != 256 || d[1] != 192 {
		t.Errorf("canvas %dx%d while recording, want the recording's 256x192", d[0], d[1])
	}
	path := filepath.Join(t.TempDir(), "rec.webm")
	if err := os.WriteFile(path, next(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=width,height", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	sizes := map[string]int{}
	for _, l := range strings.Fields(string(out)) {
		sizes[l]++
	}
	t.Logf("recorded frames by size: %v", sizes)
	if len(sizes) != 1 || sizes["256,192"] == 0 {
		t.Errorf("recorded frames by size %v, want all 256x192", sizes)
	}
	s.wait(t, "the new detail after the recording", `document.getElementById("readout").textContent.includes("512×384")`)
	if errs := s.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
