package main

import (
	"runtime/debug"
	"strings"
)

// version describes the running program from its build information: the
// module version that "go install ...@VERSION" records, or "(devel)" for a
// build from a checkout, then the commit, its time and whether the tree had
// changes, when the build recorded them, and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	parts := []string{v}
	var rev, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" && !strings.Contains(v, rev[:min(12, len(rev))]) {
		c := "commit " + rev[:min(12, len(rev))]
		if when != "" {
			c += " of " + when
		}
		if modified == "true" {
			c += ", with uncommitted changes"
		}
		parts = append(parts, c)
	}
	if bi.GoVersion != "" {
		parts = append(parts, "built with "+bi.GoVersion)
	}
	return strings.Join(parts, ", ")
}
