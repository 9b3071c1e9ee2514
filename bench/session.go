package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/chromedp/chromedp"
)

// session drives the bench page in one browser tab: every load of a
// backend opens the page afresh.
type session struct {
	cfg  config
	bctx context.Context // the browser tab
	srv  *server
	ref  []float32 // cpu.Run's output for the agreement check
	res  *results  // filled with what the page reports of its browser
}

// openPage loads a fresh page and hands it the job.
func (s *session) openPage() error {
	if err := chromedp.Do(s.bctx, chromedp.Navigate(s.srv.URL+"/")); err != nil {
		return fmt.Errorf("open page: %w", err)
	}
	if _, err := chromedp.Run(s.bctx, chromedp.Poll[bool](`window.benchReady === true`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		return fmt.Errorf("page did not load: %w", err)
	}
	job, _ := json.Marshal(map[string]any{"h": s.cfg.size, "w": s.cfg.size, "threads": s.cfg.threads})
	raw, err := call[string](s.bctx, s.cfg, "bench.init("+string(job)+")")
	if err != nil {
		return fmt.Errorf("init page: %w", err)
	}
	var env struct {
		UserAgent string
		Cores     int
		Renderer  string
	}
	json.Unmarshal([]byte(raw), &env)
	s.res.UserAgent, s.res.Cores, s.res.Renderer = env.UserAgent, env.Cores, env.Renderer
	return nil
}

// load is one load of one backend in a fresh page: its cold start,
// warm-up and timed frames, then the agreement check of its output. A
// failed cold start or check sets r.Err, a failed frame r.LiveError;
// either ends the backend's rounds. Only a page that does not open is
// fatal.
func (s *session) load(ctx context.Context, r *row) error {
	if err := s.openPage(); err != nil {
		return err
	}
	raw, err := call[string](s.bctx, s.cfg, fmt.Sprintf("bench.cold(%q, %q, %q)", r.Key, r.Runtime, r.Backend))
	if err != nil {
		r.Err = firstLine(err)
		log.Printf("%-14s cold start failed: %s", r.Key, r.Err)
		return nil
	}
	var cold struct {
		ColdMs, CreateMs float64
		Info             any
	}
	json.Unmarshal([]byte(raw), &cold)
	r.ColdMs, r.CreateMs, r.Info = append(r.ColdMs, cold.ColdMs), append(r.CreateMs, cold.CreateMs), cold.Info
	var frames []float64
	for i := range s.cfg.warmup + s.cfg.reps {
		ms, err := call[float64](s.bctx, s.cfg, fmt.Sprintf("bench.frame(%q)", r.Key))
		if err != nil {
			r.LiveError = firstLine(err)
			log.Printf("%-14s frame failed: %s", r.Key, r.LiveError)
			break
		}
		if i >= s.cfg.warmup {
			frames = append(frames, ms)
		}
	}
	if r.LiveError == "" {
		r.FramesMs = append(r.FramesMs, frames...)
		r.LoadMs = append(r.LoadMs, median(frames))
	}
	d, err := s.check(ctx, r)
	if err != nil {
		r.Err = firstLine(err)
		log.Printf("%-14s agreement check failed: %s", r.Key, r.Err)
		return nil
	}
	log.Printf("%-14s cold %6.0f ms (load+compile %6.0f), frames %s ms, max|diff| %.2e", r.Key, cold.ColdMs, cold.CreateMs, msList(frames), d)
	return nil
}

// check compares the backend's latest output with the CPU reference.
func (s *session) check(ctx context.Context, r *row) (float64, error) {
	ch := s.srv.Expect(r.Key)
	if _, err := call[float64](s.bctx, s.cfg, fmt.Sprintf("bench.check(%q)", r.Key)); err != nil {
		return 0, err
	}
	y, err := ch.Wait(ctx)
	if err != nil {
		return 0, err
	}
	d, err := maxAbsDiff(y, s.ref)
	if err != nil {
		return 0, err
	}
	r.MaxAbs = max(r.MaxAbs, d)
	r.Agrees = r.MaxAbs <= tolerance
	return d, nil
}

// call evaluates a page expression, awaiting its promise, under the
// per-call limit so one hung backend cannot eat the whole run.
func call[T any](ctx context.Context, cfg config, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.callTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}
