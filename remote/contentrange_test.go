package remote

import (
	"fmt"
	"testing"
)

// FuzzParseContentRange: what parseContentRange accepts is a range inside
// the file (first <= last < size, when the size is known), and writing it
// back in the canonical form parses to the same numbers.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes */0", "bytes 5-5/*", "bytes 0-99999/35184372088832",
		"bytes 9223372036854775806-9223372036854775806/9223372036854775807", "bytes 1-0/5", "bytes=0-1/2", "bytes -1-5/6", "bytes 00-01/002"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, size, ok := parseContentRange(s)
		if !ok {
			return
		}
		var canonical string
		switch {
		case first == -1 && last == -1:
			if size < 0 {
				t.Fatalf("%q: no range and no size accepted", s)
			}
			canonical = fmt.Sprintf("bytes */%d", size)
		case first < 0 || last < first || size < -1 || (size >= 0 && last >= size):
			t.Fatalf("%q gives first %d, last %d, size %d", s, first, last, size)
		case size == -1:
			canonical = fmt.Sprintf("bytes %d-%d/*", first, last)
		default:
			canonical = fmt.Sprintf("bytes %d-%d/%d", first, last, size)
		}
		f2, l2, s2, ok2 := parseContentRange(canonical)
		if !ok2 || f2 != first || l2 != last || s2 != size {
			t.Fatalf("%q parses to %d %d %d; its canonical form %q to %d %d %d (%v)", s, first, last, size, canonical, f2, l2, s2, ok2)
		}
	})
}
