package hub

import (
	"os"
	"path/filepath"
	"strings"
)

// DefaultEndpoint is the Hub's address when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// Config says where the Hub and the local cache are, which token to send
// and whether the network may be used. [ConfigFromEnv] fills it from the
// environment as huggingface_hub does; a caller may change any field.
type Config struct {
	// Endpoint is the Hub's address, without a trailing "/":
	// HF_ENDPOINT, or DefaultEndpoint.
	Endpoint string
	// CacheDir is the folder of the cache shared with huggingface_hub and
	// every Python tool: HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE),
	// or $HF_HOME/hub, HF_HOME being $XDG_CACHE_HOME/huggingface or
	// ~/.cache/huggingface when not set.
	CacheDir string
	// Token is sent as "Authorization: Bearer" to the Endpoint's origin
	// (scheme, host and port) only, never to another host, such as the
	// storage host that the Hub redirects downloads to. "" sends none.
	// From HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else the token
	// file (HF_TOKEN_PATH, or $HF_HOME/token, which `hf auth login` writes);
	// none when HF_HUB_DISABLE_IMPLICIT_TOKEN is true.
	Token string
	// Offline forbids the network: names resolve from the cache only, and
	// a file missing from it is an error wrapping ErrNotCached.
	// HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set to 1, true, yes or on,
	// in any case.
	Offline bool
}

// ConfigFromEnv returns the configuration that the environment gives, read
// as huggingface_hub reads it (its constants module): HF_ENDPOINT,
// HF_HOME, XDG_CACHE_HOME, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_TOKEN,
// HUGGING_FACE_HUB_TOKEN, HF_TOKEN_PATH, HF_HUB_DISABLE_IMPLICIT_TOKEN,
// HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE. Paths have "~" and $VARIABLES
// expanded. It reads the token file if the environment gives no token;
// a missing file means no token. A variable set to "" counts as not set.
func ConfigFromEnv() Config {
	home, _ := os.UserHomeDir()
	return configFrom(os.Getenv, home)
}

// configFrom is ConfigFromEnv over any environment. A variable set to ""
// counts as not set.
func configFrom(getenv func(string) string, userHome string) Config {
	get := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	expand := func(p string) string { return expandVars(expandUser(p, userHome), getenv) }

	var c Config
	c.Endpoint = strings.TrimRight(get("HF_ENDPOINT", DefaultEndpoint), "/")
	defaultHome := filepath.Join(get("XDG_CACHE_HOME", filepath.Join(userHome, ".cache")), "huggingface")
	hfHome := expand(get("HF_HOME", defaultHome))
	c.CacheDir = expand(get("HF_HUB_CACHE", get("HUGGINGFACE_HUB_CACHE", filepath.Join(hfHome, "hub"))))
	c.Offline = isTrue(get("HF_HUB_OFFLINE", getenv("TRANSFORMERS_OFFLINE")))
	if !isTrue(getenv("HF_HUB_DISABLE_IMPLICIT_TOKEN")) {
		c.Token = cleanToken(get("HF_TOKEN", getenv("HUGGING_FACE_HUB_TOKEN")))
		if c.Token == "" {
			path := expand(get("HF_TOKEN_PATH", filepath.Join(hfHome, "token")))
			if b, err := readSmall(path, 64<<10); err == nil {
				c.Token = cleanToken(string(b))
			}
		}
	}
	return c
}

// isTrue parses a boolean variable as huggingface_hub does: 1, ON, YES or
// TRUE in any case is true, anything else false.
func isTrue(v string) bool {
	switch strings.ToUpper(v) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// cleanToken drops line breaks and surrounding spaces, as huggingface_hub
// does with the tokens it reads.
func cleanToken(t string) string {
	t = strings.ReplaceAll(t, "\r", "")
	t = strings.ReplaceAll(t, "\n", "")
	return strings.TrimSpace(t)
}

// expandUser replaces a leading "~" (alone or before a separator) with the
// user's home folder, as Python's os.path.expanduser does for the current
// user.
func expandUser(p, home string) string {
	if home == "" || p == "" || p[0] != '~' {
		return p
	}
	if len(p) == 1 || os.IsPathSeparator(p[1]) {
		return home + p[1:]
	}
	return p
}

// expandVars replaces $NAME and ${NAME} with the variable's value, as
// Python's os.path.expandvars does: a variable that is not set is left as
// it is written.
func expandVars(p string, getenv func(string) string) string {
	if !strings.Contains(p, "$") {
		return p
	}
	return os.Expand(p, func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return "${" + name + "}"
	})
}
