package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, config{ranks: 4, layers: 2, hidden: 64}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "check: the parts of 4 ranks put back together equal all 20 tensors") {
		t.Errorf("no check line:\n%s", text)
	}
	// Merging costs rank 0 fewer requests than reading run by run.
	var merged, unmerged int
	for _, line := range strings.Split(text, "\n") {
		var n, parts int
		if _, err := fmt.Sscanf(line, "rank 0: 20 tensors, %d bytes of parts; %d requests", &parts, &n); err == nil {
			merged = n
		}
		if _, err := fmt.Sscanf(line, "rank 0 without merging runs: %d requests", &n); err == nil {
			unmerged = n
		}
	}
	if merged == 0 || unmerged <= merged {
		t.Errorf("rank 0: %d requests merged, %d not:\n%s", merged, unmerged, text)
	}
}

func TestRunRefusesBadSplits(t *testing.T) {
	for _, c := range []config{{ranks: 0, layers: 1, hidden: 8}, {ranks: 3, layers: 1, hidden: 8}, {ranks: 2, layers: 0, hidden: 8}} {
		if err := run(&bytes.Buffer{}, c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
