package server

import (
	"net/http"
	"strings"
)

// fixRange prepares r's Range header for http.ServeContent, which
// mishandles two cases: a suffix range of length zero ("bytes=-0"), which
// it answers with 206 and the invalid "Content-Range: bytes 10-9/10" (or
// a bogus part of a multipart answer), and any range of an empty body,
// which it answers with "bytes 0--1/0". RFC 9110 (14.1.1) calls both
// unsatisfiable. fixRange drops the zero-length suffixes from the header
// and the whole header for an empty body (whose full answer is just as
// short). It returns false when nothing satisfiable is left, for a 416.
// A Range that If-Range voids is left to ServeContent, which ignores it.
func fixRange(r *http.Request, size int, etag string) bool {
	rng := r.Header.Get("Range")
	if rng == "" {
		return true
	}
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		return true // the full body will be sent
	}
	if size == 0 {
		r.Header.Del("Range")
		return true
	}
	spec, ok := strings.CutPrefix(rng, "bytes=")
	if !ok {
		return true // not a byte range: ServeContent decides
	}
	var keep []string
	dropped := false
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if n, ok := strings.CutPrefix(part, "-"); ok && n != "" && strings.Trim(n, "0") == "" {
			dropped = true
			continue
		}
		keep = append(keep, part)
	}
	if !dropped {
		return true
	}
	if len(keep) == 0 {
		return false
	}
	r.Header.Set("Range", "bytes="+strings.Join(keep, ","))
	return true
}
