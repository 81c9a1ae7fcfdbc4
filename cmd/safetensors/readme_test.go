package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeFiles are the files the README's examples use, by the names they
// have there, and where they come from. A file whose source is missing
// (the shared corpus is not in the repository) skips the examples that use
// it.
var readmeFiles = map[string]string{
	"mnist.safetensors":             repoReal + "/torch/burn_mnist.safetensors",
	"bad.safetensors":               repoReal + "/malformed/syoyo_abuse_header_len_1000.safetensors",
	"lora.safetensors":              sharedReal + "/lora/aitoolkit_flux_lora_f16.safetensors",
	"state_dict.pt":                 torchTestdata + "/state_dict.pt",
	"malicious_os_system.pt":        torchTestdata + "/malicious_os_system.pt",
	"burn_batch_norm2d.safetensors": repoReal + "/torch/burn_batch_norm2d.safetensors",
}

// readmeHost is the server the README's examples over HTTP name; the test
// serves the examples' folder at another address and substitutes it.
const readmeHost = "http://127.0.0.1:18777"

// TestREADME runs every command line of the README's section on the
// command, as a user would type them, in order, in one folder holding the
// files they name, and compares what they print (stdout, then stderr) with
// what the README shows. A line "..." in the README stands for any number
// of lines; "| tail -N" and "echo $?" work as in a shell.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	start := strings.Index(section, "## The `safetensors` command")
	if start < 0 {
		t.Fatal("README.md has no section on the command")
	}
	section = section[start+3:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}

	dir := t.TempDir()
	missing := map[string]bool{}
	for name, src := range readmeFiles {
		data, err := os.ReadFile(src)
		if err != nil {
			missing[name] = true
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	t.Chdir(dir)

	blocks := regexp.MustCompile("(?s)```\n(\\$ .*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 10 {
		t.Fatalf("found %d examples in the README's section on the command", len(blocks))
	}
	ran := 0
	for _, blk := range blocks {
		text := blk[1]
		if name := usesMissing(text, missing); name != "" {
			t.Logf("skipped, %s is not available:\n%s", name, text)
			continue
		}
		text = strings.ReplaceAll(text, readmeHost, srv.URL)
		ran += runExample(t, text)
	}
	if ran < 15 {
		t.Errorf("ran %d command lines of the README", ran)
	}
}

func usesMissing(text string, missing map[string]bool) string {
	for name := range missing {
		if strings.Contains(text, name) {
			return name
		}
	}
	return ""
}

// runExample runs the "$ " lines of one example, checks each one's output,
// and returns how many it ran.
func runExample(t *testing.T, text string) int {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	lastCode, ran := 0, 0
	for i := 0; i < len(lines); {
		cmdline := strings.TrimPrefix(lines[i], "$ ")
		i++
		var want []string
		for i < len(lines) && !strings.HasPrefix(lines[i], "$ ") {
			want = append(want, lines[i])
			i++
		}
		var got string
		switch {
		case cmdline == "echo $?":
			got = strconv.Itoa(lastCode) + "\n"
		default:
			args, tail, err := shellWords(cmdline)
			if err != nil || len(args) == 0 || args[0] != "safetensors" {
				t.Errorf("README: cannot run %q: %v", cmdline, err)
				continue
			}
			stdout, stderr, code := cli(t, args[1:]...)
			lastCode = code
			got = stdout + stderr
			if tail > 0 {
				got = lastLines(got, tail)
			}
		}
		ran++
		if !matchLines(strings.Split(strings.TrimSuffix(got, "\n"), "\n"), want) {
			t.Errorf("README: $ %s\nprinted:\n%s\nthe README shows:\n%s", cmdline, got, strings.Join(want, "\n"))
		}
	}
	return ran
}

// shellWords splits a command line as sh would for the README's examples:
// words separated by spaces, single and double quotes, and a final
// "| tail -N".
func shellWords(s string) (words []string, tail int, err error) {
	if i := strings.Index(s, " | tail -"); i >= 0 {
		if tail, err = strconv.Atoi(s[i+len(" | tail -"):]); err != nil {
			return nil, 0, err
		}
		s = s[:i]
	}
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		case strings.IndexByte("|&;<>$`\\*", c) >= 0:
			return nil, 0, fmt.Errorf("%q needs a shell", c)
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	if in {
		words = append(words, w.String())
	}
	return words, tail, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// matchLines matches got against want, where a want line "..." matches any
// number of lines.
func matchLines(got, want []string) bool {
	if len(want) == 0 {
		return len(got) == 0 || len(got) == 1 && got[0] == ""
	}
	if want[0] == "..." {
		for k := 0; k <= len(got); k++ {
			if matchLines(got[k:], want[1:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && strings.TrimRight(got[0], " ") == strings.TrimRight(want[0], " ") && matchLines(got[1:], want[1:])
}
