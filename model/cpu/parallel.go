package cpu

import (
	"runtime"
	"sync"
)

// Tests change these to check that splitting the work does not change
// the results: workers, when positive, replaces GOMAXPROCS as the number
// of goroutines; minWork is roughly the number of multiply-adds below
// which starting another goroutine costs more than it saves.
var (
	workers = 0
	minWork = 1 << 15
)

// parallelRows calls f on disjoint ranges [lo,hi) covering [0,n), from
// up to GOMAXPROCS goroutines. rowWork is the approximate cost of one
// row, so that small ops stay on the calling goroutine. Every output
// element must be computed the same way whatever the split, so that the
// result does not depend on the number of cores.
func parallelRows(n, rowWork int, f func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if workers > 0 {
		p = workers
	}
	p = min(p, n, max(1, n*rowWork/minWork))
	if p <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range p {
		lo, hi := n*i/p, n*(i+1)/p
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
