package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// kohyaLike is metadata in the style of kohya sd-scripts: JSON objects and
// arrays inside strings, numbers as strings, a value that looks like JSON
// but is not, and one with a terminal escape sequence.
var kohyaLike = map[string]string{
	"ss_tag_frequency":    `{"1_YEW": {"YEW": 1, "a <b> & c": 2}}`,
	"ss_dataset_dirs":     ` {"1_YEW": {"n_repeats": 1, "img_count": 12}} `,
	"ss_tags":             `["one", "two"]`,
	"ss_learning_rate":    "0.0001",
	"ss_output_name":      "flux",
	"broken":              `{"not": json`,
	"empty":               "",
	"ss_training_comment": "line one\nline two\x1b[2J",
}

func TestMeta(t *testing.T) {
	p := writeFile(t, t.TempDir(), "lora.safetensors", buildFile(kohyaLike, spec{"x", "U8", []int{1}, []byte{0}}))
	stdout, _ := mustRun(t, 0, "meta", p)
	want := `broken: {"not": json
empty:
ss_dataset_dirs: {
  "1_YEW": {
    "n_repeats": 1,
    "img_count": 12
  }
}
ss_learning_rate: 0.0001
ss_output_name: flux
ss_tag_frequency: {
  "1_YEW": {
    "YEW": 1,
    "a <b> & c": 2
  }
}
ss_tags: [
  "one",
  "two"
]
ss_training_comment: line one
line two\x1b[2J
`
	if stdout != want {
		t.Errorf("meta:\n%s\nwant:\n%s", stdout, want)
	}

	stdout, _ = mustRun(t, 0, "meta", "--json", p)
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	wantJSON := map[string]any{
		"ss_tag_frequency":    map[string]any{"1_YEW": map[string]any{"YEW": 1.0, "a <b> & c": 2.0}},
		"ss_dataset_dirs":     map[string]any{"1_YEW": map[string]any{"n_repeats": 1.0, "img_count": 12.0}},
		"ss_tags":             []any{"one", "two"},
		"ss_learning_rate":    "0.0001",
		"ss_output_name":      "flux",
		"broken":              `{"not": json`,
		"empty":               "",
		"ss_training_comment": "line one\nline two\x1b[2J",
	}
	if !reflect.DeepEqual(got, wantJSON) {
		t.Errorf("meta --json:\n%v\nwant\n%v", got, wantJSON)
	}
	if strings.Contains(stdout, `\u003c`) {
		t.Errorf("meta --json escapes < and >:\n%s", stdout)
	}
	// The keys of decoded objects keep their order in the file.
	if i, j := strings.Index(stdout, `"n_repeats"`), strings.Index(stdout, `"img_count"`); i < 0 || j < i {
		t.Errorf("decoded object reordered:\n%s", stdout)
	}

	stdout, _ = mustRun(t, 0, "meta", "--json", "--raw", p)
	var rawGot map[string]string
	if err := json.Unmarshal([]byte(stdout), &rawGot); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rawGot, kohyaLike) {
		t.Errorf("meta --json --raw:\n%v\nwant\n%v", rawGot, kohyaLike)
	}
}

func TestMetaNone(t *testing.T) {
	p := writeFile(t, t.TempDir(), "m.safetensors", buildFile(nil, spec{"x", "U8", []int{1}, []byte{0}}))
	if stdout, _ := mustRun(t, 0, "meta", p); stdout != "no metadata\n" {
		t.Errorf("meta: %q", stdout)
	}
	if stdout, _ := mustRun(t, 0, "meta", "--json", p); stdout != "null\n" {
		t.Errorf("meta --json: %q", stdout)
	}
	p = writeFile(t, t.TempDir(), "m.safetensors", buildFile(map[string]string{}, spec{"x", "U8", []int{1}, []byte{0}}))
	if stdout, _ := mustRun(t, 0, "meta", "--json", p); stdout != "{}\n" {
		t.Errorf("meta --json of empty metadata: %q", stdout)
	}
}

// TestMetaReal compares meta --json --raw of every real file with the
// metadata the Python reader found, and checks that meta --json decodes
// exactly the values that are JSON objects or arrays.
func TestMetaReal(t *testing.T) {
	for _, rf := range realFiles(t) {
		if rf.want.Error != "" {
			continue
		}
		t.Run(rf.label, func(t *testing.T) {
			stdout, _ := mustRun(t, 0, "meta", "--json", "--raw", rf.path)
			var raw map[string]string
			if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(raw, rf.want.Metadata) {
				t.Errorf("metadata %v, want %v", raw, rf.want.Metadata)
			}
			stdout, _ = mustRun(t, 0, "meta", "--json", rf.path)
			var decoded map[string]any
			if err := json.Unmarshal([]byte(stdout), &decoded); err != nil {
				t.Fatal(err)
			}
			for k, v := range rf.want.Metadata {
				var inner any
				isJSON := json.Unmarshal([]byte(v), &inner) == nil
				switch inner.(type) {
				case map[string]any, []any:
				default:
					isJSON = false
				}
				if isJSON && !reflect.DeepEqual(decoded[k], inner) {
					t.Errorf("%s: %v, want decoded %v", k, decoded[k], inner)
				}
				if !isJSON && decoded[k] != v {
					t.Errorf("%s: %v, want the string %q", k, decoded[k], v)
				}
			}
		})
	}
}

// TestMetaAIToolkit shows a real LoRA's metadata: ai-toolkit writes JSON
// objects inside strings.
func TestMetaAIToolkit(t *testing.T) {
	p := sharedFile(t, "lora/aitoolkit_flux_lora_f16.safetensors")
	stdout, _ := mustRun(t, 0, "meta", p)
	for _, want := range []string{
		"format: pt\n",
		"training_info: {\n  \"step\": 1000,\n  \"epoch\": 8\n}\n",
		"ss_tag_frequency: {\n  \"1_YEW\": {\n    \"YEW\": 1\n  }\n}\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
}
