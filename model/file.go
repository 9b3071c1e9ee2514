package model

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ReadRegularFile reads path whole if it is a regular file of at most
// limit bytes. Anything else is refused before a byte is read: a device
// such as /dev/zero would be read until memory runs out, a FIFO with no
// writer would block forever, a directory is a mistake. A symlink is
// followed and judged by what it points to.
func ReadRegularFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(path, fi, limit); err != nil {
		return nil, err
	}
	// O_NONBLOCK: if path became a FIFO after the Stat, open must not
	// wait for a writer; the f.Stat below then refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if err := regular(path, fi, limit); err != nil {
		return nil, err
	}
	// The file may grow after the Stat: read at most limit+1 bytes.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w", path, tooLarge(limit))
	}
	return data, nil
}

// ErrNotRegular is wrapped by the errors of ReadRegularFile for a path
// that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the errors of ReadRegularFile for a file
// larger than its limit.
var ErrTooLarge = errors.New("larger than the limit")

func tooLarge(limit int64) error {
	return fmt.Errorf("%w of %s", ErrTooLarge, FormatBytes(limit))
}

func regular(path string, fi fs.FileInfo, limit int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, kind(fi.Mode()))
	}
	if fi.Size() > limit {
		return fmt.Errorf("%s: %s, %w", path, FormatBytes(fi.Size()), tooLarge(limit))
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}

// FormatBytes writes n in the largest binary unit that keeps it at or
// above 1 (e.g. "1.5 GiB", "300 MiB", "12 KiB", "7 B").
func FormatBytes(n int64) string {
	const unit = 1 << 10
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	s := fmt.Sprintf("%.1f", v)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	return s + " " + []string{"B", "KiB", "MiB", "GiB", "TiB"}[i]
}
