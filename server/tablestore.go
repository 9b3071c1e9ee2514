package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/edgetoon/edgetoon/latency"
)

// storedName is the only form of file name the endpoint writes.
var storedName = regexp.MustCompile(`^[0-9a-f]{64}\.json$`)

// tempPrefix starts the names of files being written; one left by a
// crash is removed at the next start.
const tempPrefix = ".upload-"

// blockSize is what a file is charged at least, and the unit its charge is
// rounded up to: the allocation unit of common file systems, so that the
// quota bounds blocks used, not only bytes written.
const blockSize = 4096

// tableStore keeps latency tables in a directory within a byte quota and a
// count. A table that does not fit makes room by removing the oldest
// tables; only a table larger than the whole quota is refused. The
// accounting starts from the files found at startup and needs no restart:
// a file deleted by hand is simply skipped when its turn comes.
type tableStore struct {
	dir       string
	quota     int64 // bytes, as charged
	maxTables int
	logf      func(format string, args ...any)

	mu    sync.Mutex // serializes the accounting and the writes
	used  int64
	files []storedFile // oldest first
}

type storedFile struct {
	name   string
	charge int64
}

func charge(size int64) int64 {
	return max(blockSize, (size+blockSize-1)/blockSize*blockSize)
}

// openTableStore scans dir: its tables, oldest first by modification
// time, are charged against the quota; stale temporary files are removed.
func openTableStore(dir string, quota int64, maxTables int, logf func(string, ...any)) (*tableStore, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("latency dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("latency dir %s: not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("latency dir: %w", err)
	}
	st := &tableStore{dir: dir, quota: quota, maxTables: maxTables, logf: logf}
	type found struct {
		storedFile
		mod int64
	}
	var have []found
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, ".tmp") {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("latency dir: removing a stale upload: %w", err)
			}
			continue
		}
		if !storedName.MatchString(name) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("latency dir: %w", err)
		}
		if !info.Mode().IsRegular() {
			continue // not ours, and not removed by us either
		}
		have = append(have, found{storedFile{name, charge(info.Size())}, info.ModTime().UnixNano()})
	}
	slices.SortFunc(have, func(a, b found) int {
		if a.mod != b.mod {
			return int(min(max(a.mod-b.mod, -1), 1))
		}
		return strings.Compare(a.name, b.name)
	})
	for _, f := range have {
		st.files = append(st.files, f.storedFile)
		st.used += f.charge
	}
	if st.used > quota || len(st.files) > maxTables {
		logf("latency: %s holds %d tables, %d bytes: over the limit of %d tables, %d bytes; the oldest go as new ones arrive",
			dir, len(st.files), st.used, maxTables, quota)
	}
	return st, nil
}

var errTooLarge = errors.New("this table is larger than the server's quota for tables")

// store writes t's canonical encoding as <hash>.json, atomically: the
// bytes go to a temporary file in the same directory, which is then
// hard-linked to its final name. A link never replaces an existing file,
// so a table is never overwritten, and readers never see a partial one.
// created is false when the same table was stored before. Room is made
// before the write, so the directory never holds more than the quota.
func (st *tableStore) store(t *latency.Table) (name string, created bool, err error) {
	hash, err := t.Hash()
	if err != nil {
		return "", false, err
	}
	data, err := t.Canonical()
	if err != nil {
		return "", false, err
	}
	name = hash + ".json"
	if !storedName.MatchString(name) { // cannot happen: hash is hex
		return "", false, fmt.Errorf("bad name %q", name)
	}
	c := charge(int64(len(data)))
	if c > st.quota || st.maxTables < 1 {
		return "", false, errTooLarge
	}
	final := filepath.Join(st.dir, name)
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, err := os.Lstat(final); err == nil {
		return name, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if err := st.makeRoom(c); err != nil {
		return "", false, err
	}
	tmp, err := os.CreateTemp(st.dir, tempPrefix+"*.tmp")
	if err != nil {
		return "", false, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", false, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", false, err
	}
	if err := os.Link(tmp.Name(), final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return name, false, nil
		}
		return "", false, err
	}
	st.files = append(st.files, storedFile{name, c})
	st.used += c
	return name, true, nil
}

// makeRoom removes the oldest tables until one charged c fits.
func (st *tableStore) makeRoom(c int64) error {
	n := 0
	for n < len(st.files) && (st.used+c > st.quota || len(st.files)-n+1 > st.maxTables) {
		f := st.files[n]
		if err := os.Remove(filepath.Join(st.dir, f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			st.files = slices.Delete(st.files, 0, n)
			return fmt.Errorf("pruning %s: %w", f.name, err)
		}
		st.used -= f.charge
		n++
	}
	st.files = slices.Delete(st.files, 0, n)
	if n > 0 {
		st.logf("latency: removed the %d oldest tables to stay within %d tables, %d bytes", n, st.maxTables, st.quota)
	}
	return nil
}
