package safetensors

import (
	"encoding/binary"
	"os"
	"sync"
	"unsafe"
)

// pagemap is /proc/self/pagemap, opened once: for each page of the
// process's address space, 8 bytes whose bit 63 says whether the page is
// mapped (present in the page tables). Nil where it cannot be opened.
var pagemap = sync.OnceValue(func() *os.File {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil
	}
	return f
})

// pagemapSamples is how many pages pagesMapped looks at, at most: spread
// evenly over the range, first and last included. Reading them costs a few
// microseconds, against the milliseconds of copying a large selection; a
// range of this many pages or fewer is read whole, in one call.
const pagemapSamples = 32

// pagesMapped reports whether the pages of b, a part of a mapping, are
// mapped into the process, so that reading them costs no page fault: true
// when every page it samples is (all of them, for a range of up to
// pagemapSamples pages). Unlike mincore, which says whether a file's pages
// are in the page cache (they usually are, whoever read them), this tells
// the pages this process has already faulted in from those a copy would
// fault in one by one. It is false when it cannot tell.
func pagesMapped(b []byte) bool {
	pm := pagemap()
	if pm == nil || len(b) == 0 {
		return false
	}
	ps := uintptr(os.Getpagesize())
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	first, last := addr/ps, (addr+uintptr(len(b))-1)/ps
	present := func(e []byte) bool { return binary.LittleEndian.Uint64(e)>>63 == 1 }
	if n := last - first + 1; n <= pagemapSamples {
		var buf [8 * pagemapSamples]byte
		e := buf[:8*n]
		if _, err := pm.ReadAt(e, int64(first*8)); err != nil {
			return false
		}
		for i := 0; i < len(e); i += 8 {
			if !present(e[i : i+8]) {
				return false
			}
		}
		return true
	}
	var e [8]byte
	for k := uintptr(0); k < pagemapSamples; k++ {
		page := first + (last-first)*k/(pagemapSamples-1)
		if _, err := pm.ReadAt(e[:], int64(page*8)); err != nil || !present(e[:]) {
			return false
		}
	}
	return true
}
