package hub

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfigFromEnvironment(t *testing.T) {
	home := t.TempDir()
	tokenDir := t.TempDir()
	// A token file as `hf auth login` writes it, with a newline.
	if err := os.WriteFile(filepath.Join(home, "token"), []byte("hf_from_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tokenDir, "tok"), []byte("  hf_from_path\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"defaults", nil, Config{Endpoint: "https://huggingface.co", CacheDir: "/u/.cache/huggingface/hub"}},
		{"XDG_CACHE_HOME", map[string]string{"XDG_CACHE_HOME": "/xdg"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/xdg/huggingface/hub"}},
		{"HF_HOME wins over XDG", map[string]string{"XDG_CACHE_HOME": "/xdg", "HF_HOME": "/hf"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/hf/hub"}},
		{"HF_HOME with ~ and $VAR", map[string]string{"HF_HOME": "~/x/$SUB/${UNSET}", "SUB": "s"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/u/x/s/${UNSET}/hub"}},
		{"HF_HUB_CACHE", map[string]string{"HF_HOME": "/hf", "HF_HUB_CACHE": "/cache"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/cache"}},
		{"legacy HUGGINGFACE_HUB_CACHE", map[string]string{"HUGGINGFACE_HUB_CACHE": "/old"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/old"}},
		{"HF_HUB_CACHE wins over the legacy one", map[string]string{"HUGGINGFACE_HUB_CACHE": "/old", "HF_HUB_CACHE": "/new"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/new"}},
		{"endpoint without trailing slash", map[string]string{"HF_ENDPOINT": "https://hf-mirror.com/"}, Config{Endpoint: "https://hf-mirror.com", CacheDir: "/u/.cache/huggingface/hub"}},
		{"offline 1", map[string]string{"HF_HUB_OFFLINE": "1"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub", Offline: true}},
		{"offline yes", map[string]string{"HF_HUB_OFFLINE": "yes"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub", Offline: true}},
		{"offline On", map[string]string{"HF_HUB_OFFLINE": "On"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub", Offline: true}},
		{"offline TRUE", map[string]string{"HF_HUB_OFFLINE": "TRUE"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub", Offline: true}},
		{"offline 0", map[string]string{"HF_HUB_OFFLINE": "0"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub"}},
		{"offline 2 is not true", map[string]string{"HF_HUB_OFFLINE": "2"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub"}},
		{"TRANSFORMERS_OFFLINE", map[string]string{"TRANSFORMERS_OFFLINE": "1"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub", Offline: true}},
		{"HF_HUB_OFFLINE=0 hides TRANSFORMERS_OFFLINE", map[string]string{"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}, Config{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub"}},
		{"token file in HF_HOME", map[string]string{"HF_HOME": home}, Config{Endpoint: DefaultEndpoint, CacheDir: filepath.Join(home, "hub"), Token: "hf_from_file"}},
		{"HF_TOKEN wins over the file", map[string]string{"HF_HOME": home, "HF_TOKEN": " hf_env\n"}, Config{Endpoint: DefaultEndpoint, CacheDir: filepath.Join(home, "hub"), Token: "hf_env"}},
		{"legacy HUGGING_FACE_HUB_TOKEN", map[string]string{"HF_HOME": home, "HUGGING_FACE_HUB_TOKEN": "hf_old"}, Config{Endpoint: DefaultEndpoint, CacheDir: filepath.Join(home, "hub"), Token: "hf_old"}},
		{"HF_TOKEN_PATH", map[string]string{"HF_HOME": home, "HF_TOKEN_PATH": filepath.Join(tokenDir, "tok")}, Config{Endpoint: DefaultEndpoint, CacheDir: filepath.Join(home, "hub"), Token: "hf_from_path"}},
		{"HF_HUB_DISABLE_IMPLICIT_TOKEN", map[string]string{"HF_HOME": home, "HF_TOKEN": "hf_env", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"}, Config{Endpoint: DefaultEndpoint, CacheDir: filepath.Join(home, "hub")}},
	} {
		got := configFrom(func(k string) string { return c.env[k] }, "/u")
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestConfigFromEnvReadsTheProcessEnvironment(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("HF_TOKEN", "hf_x")
	t.Setenv("HF_HUB_OFFLINE", "true")
	got := ConfigFromEnv()
	want := Config{Endpoint: "http://127.0.0.1:1", CacheDir: filepath.Join(home, "hub"), Token: "hf_x", Offline: true}
	if got != want {
		t.Errorf("ConfigFromEnv() = %+v, want %+v", got, want)
	}
}
