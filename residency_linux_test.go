package safetensors

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// MappedKiB is mappedKiB for the package's external tests.
var MappedKiB = mappedKiB

// mappedKiB returns how many KiB of the mapping that holds addr are mapped
// into this process's page tables: the Rss of its entry in /proc/self/smaps.
// Unlike mincore, which reports whether a file's pages are in the page
// cache (as they are here whoever read them), this counts only the pages
// that touching the mapping faulted in.
func mappedKiB(t testing.TB, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			lo, hi, ok := strings.Cut(fields[0], "-")
			if ok {
				l, err1 := strconv.ParseUint(lo, 16, 64)
				h, err2 := strconv.ParseUint(hi, 16, 64)
				in = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
				continue
			}
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kib, err := strconv.Atoi(strings.Fields(line)[1])
			require.NoError(t, err)
			return kib
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("no mapping holds address %#x", addr)
	return 0
}

// mapOf maps the file at path for a test, and unmaps it at the end.
func mapOf(t *testing.T, path string) []byte {
	t.Helper()
	osf, err := os.Open(path)
	require.NoError(t, err)
	defer osf.Close()
	st, err := osf.Stat()
	require.NoError(t, err)
	mem, unmap, err := mapFile(osf, st.Size())
	require.NoError(t, err)
	t.Cleanup(func() { unmap() })
	return mem
}

// TestPopulateByTouch: the fallback for kernels without
// MADV_POPULATE_READ maps every page, as the kernel's call does; and the
// kernel's call does.
func TestPopulateByTouch(t *testing.T) {
	path := t.TempDir() + "/f"
	const size = 4<<20 + 100
	require.NoError(t, os.WriteFile(path, make([]byte, size), 0o644))
	for _, how := range []struct {
		name string
		fill func([]byte) error
	}{
		{"touch", func(b []byte) error { return guardFault(func() { touchPages(b) }) }},
		{"kernel", func(b []byte) error {
			done, err := populateKernel(b)
			if !done && err == nil {
				t.Skip("the kernel has no MADV_POPULATE_READ")
			}
			return err
		}},
	} {
		t.Run(how.name, func(t *testing.T) {
			mem := mapOf(t, path)
			addr := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
			require.Less(t, mappedKiB(t, addr), 1024, "a new mapping")
			require.NoError(t, how.fill(mem))
			assert.GreaterOrEqual(t, mappedKiB(t, addr), size/1024, "every page mapped")
		})
	}
}

// TestPopulateTruncated: populating a mapping whose file was truncated is
// an error wrapping ErrFault, not a crash, by either way.
func TestPopulateTruncated(t *testing.T) {
	path := t.TempDir() + "/f"
	require.NoError(t, os.WriteFile(path, make([]byte, 1<<20), 0o644))
	mem := mapOf(t, path)
	require.NoError(t, os.Truncate(path, 0))
	assert.ErrorIs(t, guardFault(func() { touchPages(mem) }), ErrFault)
	if done, err := populateKernel(mem); done {
		assert.ErrorIs(t, err, ErrFault)
	}
}

// TestPagesMapped: pagesMapped tells the pages a process has touched from
// those it has not, for short ranges (read whole) and long ones (sampled).
func TestPagesMapped(t *testing.T) {
	path := t.TempDir() + "/f"
	const size = 4 << 20
	require.NoError(t, os.WriteFile(path, make([]byte, size), 0o644))
	mem := mapOf(t, path)
	ps := os.Getpagesize()
	require.Zero(t, size%(2*ps))
	half := size / 2
	assert.False(t, pagesMapped(mem), "a new mapping")
	assert.False(t, pagesMapped(mem[:3*ps]), "a new mapping, a short range")
	touchPages(mem[:half])
	assert.True(t, pagesMapped(mem[:half]), "the touched half, sampled")
	assert.True(t, pagesMapped(mem[ps+5:5*ps]), "a short range of it, read whole")
	assert.False(t, pagesMapped(mem[half+256<<10:]), "the other half, sampled")
	assert.False(t, pagesMapped(mem[size-3*ps:]), "a short range of the other half")
	assert.False(t, pagesMapped(mem), "half of it")
	assert.False(t, pagesMapped(nil))
	touchPages(mem)
	assert.True(t, pagesMapped(mem), "all of it")
}
