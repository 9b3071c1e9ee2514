package isolated

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Exchange hands byte blobs to a page and receives the float32 tensors it
// posts back, each output expected once. Mount its handlers on patterns
// with a {name} (Blob) and a {key} (Output) wildcard.
type Exchange struct {
	maxBody int64
	mu      sync.Mutex
	blobs   map[string][]byte
	outputs map[string]chan []float32
}

// NewExchange accepts posted outputs of at most maxBody bytes.
func NewExchange(maxBody int64) *Exchange {
	return &Exchange{maxBody: maxBody, blobs: map[string][]byte{}, outputs: map[string]chan []float32{}}
}

// Put publishes b under name.
func (e *Exchange) Put(name string, b []byte) {
	e.mu.Lock()
	e.blobs[name] = b
	e.mu.Unlock()
}

// Blob serves the blob named by the request's {name}, or 404.
func (e *Exchange) Blob(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	b, ok := e.blobs[r.PathValue("name")]
	e.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

// Output receives the float32 tensor posted for the request's {key}:
// 404 if none is expected, 400 for a body that is not whole float32s or
// is too large, 409 for a second post.
func (e *Exchange) Output(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	ch, ok := e.outputs[r.PathValue("key")]
	e.mu.Unlock()
	if !ok {
		http.Error(w, "no output expected", http.StatusNotFound)
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.maxBody))
	if err != nil || len(b)%4 != 0 {
		http.Error(w, fmt.Sprintf("bad body (%d bytes): %v", len(b), err), http.StatusBadRequest)
		return
	}
	select {
	case ch <- DecodeF32(b):
	default:
		http.Error(w, "output already received", http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Pending is an output the page will post.
type Pending chan []float32

// Expect returns what receives the page's post for key.
func (e *Exchange) Expect(key string) Pending {
	ch := make(chan []float32, 1)
	e.mu.Lock()
	e.outputs[key] = ch
	e.mu.Unlock()
	return ch
}

// Wait returns the posted tensor, or an error once ctx is done.
func (p Pending) Wait(ctx context.Context) ([]float32, error) {
	select {
	case y := <-p:
		return y, nil
	case <-ctx.Done():
		return nil, errors.New("page posted no output: " + ctx.Err().Error())
	}
}
