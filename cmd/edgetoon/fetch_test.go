package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The download path is tested against a local server: tests never reach
// the internet. The real teacher bytes come from the shared folder.
func TestTeacherDownload(t *testing.T) {
	real, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "models", teacherFile))
	if err != nil {
		t.Skip("shared teacher not present:", err)
	}
	var served []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/teacher.tflite" {
			http.NotFound(w, r)
			return
		}
		w.Write(served)
	}))
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "absent.tflite")

	served = real
	data, from, err := teacherBytes(missing, srv.URL+"/teacher.tflite")
	if err != nil || len(data) != len(real) || !strings.HasPrefix(from, srv.URL) {
		t.Fatalf("download of the right file: %v (from %q)", err, from)
	}

	served = append(append([]byte{}, real[:1000]...), 'x')
	if _, _, err := teacherBytes(missing, srv.URL+"/teacher.tflite"); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("a tampered download must be refused by digest, got %v", err)
	}
	if _, _, err := teacherBytes(missing, srv.URL+"/gone"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a 404 must be an error naming it, got %v", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.tflite")
	os.WriteFile(bad, []byte("not the teacher"), 0o644)
	if _, _, err := teacherBytes(bad, srv.URL+"/teacher.tflite"); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("a wrong local file must be refused, got %v", err)
	}
}
