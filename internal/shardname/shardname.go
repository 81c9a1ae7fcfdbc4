// Package shardname holds the names that huggingface_hub and transformers
// give the files of a sharded checkpoint, PREFIX-NNNNN-of-NNNNN.safetensors,
// for the writers of the library's packages.
package shardname

import (
	"fmt"
	"strings"
)

// Format returns the name of shard i (from 0) of n: PREFIX-0000i+1-of-0000n.safetensors.
func Format(prefix string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.safetensors", prefix, i+1, n)
}

// Match reports whether name is PREFIX-NNNNN-of-NNNNN.safetensors, with 5
// digits or more each.
func Match(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return false
	}
	if rest, ok = strings.CutSuffix(rest, ".safetensors"); !ok {
		return false
	}
	a, b, ok := strings.Cut(rest, "-of-")
	digits := func(s string) bool { return len(s) >= 5 && strings.Trim(s, "0123456789") == "" }
	return ok && digits(a) && digits(b)
}
