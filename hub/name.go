package hub

import (
	"fmt"
	"regexp"
	"strings"
)

// Scheme is the prefix of every Hub name: hf://.
const Scheme = "hf://"

// DefaultRevision is the revision of a name that gives none: the branch main.
const DefaultRevision = "main"

// Repository types, as [Name.Type] gives them.
const (
	TypeModel   = "model"
	TypeDataset = "dataset"
	TypeSpace   = "space"
)

// typePrefixes maps the plural prefix a name may start with to its type.
var typePrefixes = map[string]string{"models": TypeModel, "datasets": TypeDataset, "spaces": TypeSpace}

// A Name is a parsed Hub name:
//
//	hf://[TYPE/]ORG/NAME[@REVISION][/PATH/IN/REPO]
//
// TYPE is models (the default), datasets or spaces. REVISION is a branch,
// a tag or a commit hash, main by default. A revision holding a "/" is
// written with each "/" as %2F (hf://ORG/NAME@my%2Fbranch/file), except the
// Hub's own refs/pr/N and refs/convert/NAME, which may be written as they
// are (hf://ORG/NAME@refs/pr/1/model.safetensors). PATH is a file of the
// repository; without it the name means the repository's model:
// model.safetensors, or model.safetensors.index.json when there is no
// single file. This is huggingface_hub's grammar for hf:// URIs.
type Name struct {
	Type     string // TypeModel, TypeDataset or TypeSpace
	Repo     string // "ORG/NAME"
	Revision string // as written, unescaped; "" means DefaultRevision
	Path     string // slash-separated path in the repository; "" means the model
}

// specialRef matches the revisions that hold a "/" and are written as they
// are: a pull request's refs/pr/N and a conversion's refs/convert/NAME.
var specialRef = regexp.MustCompile(`^refs/(?:convert/[A-Za-z0-9_.-]+|pr/[0-9]+)`)

// repoPart reports whether p is one part of a repository id as the Hub
// allows it: 1 to 96 ASCII letters, digits, "-", "_" and ".", starting and
// ending with a letter, a digit or "_".
func repoPart(p string) bool {
	if len(p) == 0 || len(p) > 96 {
		return false
	}
	word := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !word(c) && c != '-' && c != '.' {
			return false
		}
	}
	return word(p[0]) && word(p[len(p)-1])
}

// IsName reports whether s is meant as a Hub name: whether it starts with
// hf://. It does not check the rest; [ParseName] does.
func IsName(s string) bool { return strings.HasPrefix(s, Scheme) }

// ParseName parses a Hub name (see [Name]). Its errors wrap
// [ErrInvalidName] and say which part is wrong.
func ParseName(s string) (Name, error) {
	bad := func(format string, args ...any) (Name, error) {
		return Name{}, fmt.Errorf("%w %q: %s", ErrInvalidName, s, fmt.Sprintf(format, args...))
	}
	if !IsName(s) {
		return bad("a Hub name starts with %s (hf://ORG/NAME[@REVISION][/PATH])", Scheme)
	}
	body := s[len(Scheme):]
	if body == "" {
		return bad("nothing after %s: give a repository, ORG/NAME", Scheme)
	}
	n := Name{Type: TypeModel}
	first, rest, found := strings.Cut(body, "/")
	if t, ok := typePrefixes[first]; ok {
		if !found || strings.Trim(rest, "/") == "" {
			return bad("no repository after %q: write %s%s/ORG/NAME", first, Scheme, first)
		}
		n.Type, body = t, rest
	} else if found && (first == TypeModel || first == TypeDataset || first == TypeSpace) {
		return bad("the type prefix is plural: %q, not %q", first+"s/", first+"/")
	} else if first == "kernels" || first == "buckets" {
		return bad("only models, datasets and spaces are supported, not %s", first)
	}
	loc := strings.Trim(body, "/")
	if loc == "" {
		return bad("no repository: give ORG/NAME")
	}
	// An "@" marks the revision only right after ORG/NAME; deeper in the
	// path it is part of a file name.
	at := strings.IndexByte(loc, '@')
	if at < 0 || strings.Count(loc[:at], "/") > 1 {
		parts := strings.SplitN(loc, "/", 3)
		if len(parts) < 2 {
			return bad("the repository must be ORG/NAME, got %q (names without an organization, such as gpt2, moved to one, such as openai-community/gpt2)", loc)
		}
		n.Repo = parts[0] + "/" + parts[1]
		if len(parts) == 3 {
			n.Path = parts[2]
		}
	} else {
		n.Repo = loc[:at]
		if strings.Count(n.Repo, "/") != 1 {
			return bad("the repository before \"@\" must be ORG/NAME, got %q", n.Repo)
		}
		revPath := loc[at+1:]
		var rev string
		if m := specialRef.FindString(revPath); m != "" && (len(revPath) == len(m) || revPath[len(m)] == '/') {
			rev, n.Path = m, strings.TrimPrefix(revPath[len(m):], "/")
		} else {
			rev, n.Path, _ = strings.Cut(revPath, "/")
		}
		n.Revision = unquote(rev)
		if n.Revision == "" {
			return bad("empty revision after \"@\": give a branch, a tag or a commit")
		}
		if err := checkRevision(n.Revision); err != "" {
			return bad("revision %q %s", n.Revision, err)
		}
	}
	if err := checkRepo(n.Repo); err != "" {
		return bad("repository %q %s", n.Repo, err)
	}
	if n.Path != "" {
		if err := checkPath(n.Path); err != "" {
			return bad("path %q %s", n.Path, err)
		}
	}
	return n, nil
}

// checkRepo applies the Hub's rules for a repository id, as
// huggingface_hub's validate_repo_id does, and returns what is wrong or "".
func checkRepo(repo string) string {
	org, name, _ := strings.Cut(repo, "/")
	for _, p := range []string{org, name} {
		if !repoPart(p) {
			return "must be ORG/NAME, each of 1 to 96 ASCII letters, digits, '-', '_' or '.', not starting or ending with '-' or '.'"
		}
	}
	if strings.Contains(repo, "--") || strings.Contains(repo, "..") {
		return "cannot contain \"--\" or \"..\""
	}
	if strings.HasSuffix(repo, ".git") {
		return "cannot end with \".git\""
	}
	return ""
}

// checkPath refuses paths that could leave a snapshot folder of the cache
// or that no repository holds, and returns what is wrong or "".
func checkPath(p string) string {
	if strings.ContainsAny(p, "\\\x00") {
		return "cannot contain a backslash or a NUL byte"
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return "has an empty segment (\"//\")"
		case ".", "..":
			return "cannot contain \".\" or \"..\" segments"
		}
	}
	return ""
}

// checkRevision refuses revisions that are no git ref or commit and could
// leave the refs folder of the cache, and returns what is wrong or "".
func checkRevision(rev string) string {
	for _, c := range rev {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "cannot contain control characters or a backslash"
		}
	}
	for seg := range strings.SplitSeq(rev, "/") {
		if seg == "" || seg[0] == '.' {
			return "cannot have an empty part or a part starting with \".\""
		}
	}
	if strings.Contains(rev, "..") {
		return "cannot contain \"..\""
	}
	return ""
}

// rev returns the revision to use: n.Revision or DefaultRevision.
func (n Name) rev() string {
	if n.Revision == "" {
		return DefaultRevision
	}
	return n.Revision
}

// String returns the name in its canonical form: hf://, the type prefix
// unless it is a model, the repository, "@" and the revision if one was
// given (with "/" written %2F, except in refs/pr/N and refs/convert/NAME),
// and the path.
func (n Name) String() string {
	var b strings.Builder
	b.WriteString(Scheme)
	if n.Type != "" && n.Type != TypeModel {
		b.WriteString(n.Type + "s/")
	}
	b.WriteString(n.Repo)
	if n.Revision != "" {
		r := n.Revision
		if strings.Contains(r, "/") && specialRef.FindString(r) != r {
			r = strings.ReplaceAll(r, "/", "%2F")
		}
		b.WriteString("@" + r)
	}
	if n.Path != "" {
		b.WriteString("/" + n.Path)
	}
	return b.String()
}

// folder returns the name of the repository's folder in the cache, as
// huggingface_hub names it: models--ORG--NAME.
func (n Name) folder() string {
	return n.Type + "s--" + strings.ReplaceAll(n.Repo, "/", "--")
}

// urlPrefix returns the part of a Hub URL before the repository:
// "" for models, "datasets/" and "spaces/" for the others.
func (n Name) urlPrefix() string {
	if n.Type == TypeModel || n.Type == "" {
		return ""
	}
	return n.Type + "s/"
}

// quote percent-encodes s as Python's urllib.parse.quote(s, safe) does:
// every byte but ASCII letters, digits, "_.-~" and those in safe.
func quote(s, safe string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("_.-~", c) >= 0 || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// unquote decodes %XX escapes as Python's urllib.parse.unquote does,
// leaving a "%" that starts no escape as it is.
func unquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	unhex := func(c byte) (byte, bool) {
		switch {
		case '0' <= c && c <= '9':
			return c - '0', true
		case 'a' <= c && c <= 'f':
			return c - 'a' + 10, true
		case 'A' <= c && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}
