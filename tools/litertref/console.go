package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// consoleLog keeps the page's console output. LiteRT.js prints TFLite's own
// log there (for example how many nodes the XNNPACK delegate took), which
// is the only place that says which ops ran outside XNNPACK.
type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

// watch subscribes before the page loads so no message is missed, and
// collects messages until ctx ends.
func (c *consoleLog) watch(ctx context.Context) {
	events := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			parts := make([]string, 0, len(ev.Args))
			for _, a := range ev.Args {
				var s string
				if a.Type == runtime.RemoteObjectTypeString && json.Unmarshal(a.Value, &s) == nil {
					parts = append(parts, s)
				} else if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			c.mu.Lock()
			c.lines = append(c.lines, string(ev.Type)+": "+strings.Join(parts, " "))
			c.mu.Unlock()
		}
	}()
}

// all returns the messages so far. Events arrive asynchronously, so a
// message cannot be reliably tied to the model that was running.
func (c *consoleLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}
