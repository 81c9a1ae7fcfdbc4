//go:build !unix

package main

import "os"

// maxRSS returns 0: the system does not report a process's peak resident
// memory through os.ProcessState.
func maxRSS(*os.ProcessState) int64 { return 0 }
