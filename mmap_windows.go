package safetensors

import (
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// mmapFile maps f with CreateFileMapping and MapViewOfFile. The mapping
// handle is closed at once: the view keeps the mapping alive. Windows keeps
// a mapped file locked: it cannot be deleted or replaced until Close.
func mmapFile(f *os.File, size int) ([]byte, func() error, error) {
	size64 := uint64(size)
	h, err := windows.CreateFileMapping(windows.Handle(f.Fd()), nil, windows.PAGE_READONLY, uint32(size64>>32), uint32(size64), nil)
	if err != nil {
		return nil, nil, os.NewSyscallError("CreateFileMapping", err)
	}
	defer windows.CloseHandle(h)
	addr, err := windows.MapViewOfFile(h, windows.FILE_MAP_READ, 0, 0, uintptr(size))
	if err != nil {
		return nil, nil, os.NewSyscallError("MapViewOfFile", err)
	}
	// addr is outside the Go heap; reading it through a pointer-typed copy
	// of the variable avoids the uintptr-to-Pointer conversion vet warns of.
	b := unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), size)
	return b, func() error { return windows.UnmapViewOfFile(addr) }, nil
}
