//go:build !unix

package safetensors

import "os"

// openFlags is a plain read-only open where there is no O_NONBLOCK; the
// file is checked to be regular before it is opened.
const openFlags = os.O_RDONLY

func clearNonblock(*os.File) error { return nil }

// noFollow is nothing where opening cannot refuse a link; the path was
// checked with Lstat just before.
const noFollow = 0
