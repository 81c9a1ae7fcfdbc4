package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
)

// Errors of the hub package. Errors about files wrap [fs.ErrNotExist] or
// [fs.ErrPermission] too, as local files' errors do, so that callers can
// treat a Hub name as they treat a path.
var (
	// ErrInvalidName: a string that is not a valid Hub name; the message
	// says which part is wrong.
	ErrInvalidName = errors.New("hub: invalid name")
	// ErrNotCached: the file is not in the local cache and the network
	// may not be used (offline mode). It comes with fs.ErrNotExist.
	ErrNotCached = errors.New("hub: not in the local cache")
	// ErrRepoNotFound: the Hub knows no such repository, or it is private
	// and the request had no token with access to it (the Hub does not
	// tell the two apart). It comes with fs.ErrNotExist.
	ErrRepoNotFound = errors.New("hub: repository not found")
	// ErrRevisionNotFound: the repository has no such branch, tag or
	// commit. It comes with fs.ErrNotExist.
	ErrRevisionNotFound = errors.New("hub: revision not found")
	// ErrEntryNotFound: the repository has no such file at that revision.
	// It comes with fs.ErrNotExist.
	ErrEntryNotFound = errors.New("hub: file not found in the repository")
	// ErrGatedRepo: the repository is gated: its owner's conditions must
	// be accepted on the Hub, and the request made with a token of the
	// account that accepted them. It comes with fs.ErrPermission.
	ErrGatedRepo = errors.New("hub: gated repository")
	// ErrChecksum: a downloaded file's SHA-256 differs from the one the
	// Hub announced (its LFS ETag), or its size from the announced size.
	// The file is deleted, never put in the cache.
	ErrChecksum = errors.New("hub: downloaded file does not match its checksum")
	// ErrMetadata: the Hub's answer lacks what a file needs (X-Repo-Commit,
	// an ETag, a size) or holds values that cannot be right. Often a proxy
	// or a wrong HF_ENDPOINT answering in the Hub's place.
	ErrMetadata = errors.New("hub: invalid metadata from the Hub")
)

// notCachedError is a name missing from the cache in offline mode.
type notCachedError struct{ msg string }

func (e *notCachedError) Error() string   { return e.msg }
func (e *notCachedError) Unwrap() []error { return []error{ErrNotCached, fs.ErrNotExist} }

// StatusError is an error status from the Hub, or from the storage host it
// redirects to, about one file. Error gives a message that says what to
// do. It unwraps to the sentinel of its X-Error-Code (ErrRepoNotFound,
// ErrRevisionNotFound, ErrEntryNotFound, ErrGatedRepo) when there is one,
// and to fs.ErrNotExist (404, 410) or fs.ErrPermission (401, 403).
type StatusError struct {
	Name       Name   // the file asked for, with its repository and revision
	URL        string // the URL that answered, without its query string
	StatusCode int
	Code       string // the Hub's X-Error-Code header: "GatedRepo", "RepoNotFound", ...
	Message    string // the Hub's X-Error-Message header, if any
	Token      bool   // whether the request carried a token
	Storage    bool   // the answer came from the storage host the Hub redirected to
	Endpoint   string // the Hub's address, for the advice in the message

	commit string // the response's X-Repo-Commit, when it is a commit hash
}

func (e *StatusError) Error() string {
	n := e.Name
	rev := n.rev()
	var advice string
	switch {
	case e.Storage && (e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized):
		advice = "the storage host refused the download URL that the Hub signed (signed URLs expire): try again"
	case e.Code == "GatedRepo":
		advice = fmt.Sprintf("%s is a gated repository: accept its conditions at %s/%s%s and use a token of that account (HF_TOKEN, or the token file that `hf auth login` writes)",
			n.Repo, e.Endpoint, n.urlPrefix(), n.Repo)
		if !e.Token {
			advice += "; no token was sent"
		}
	case e.Code == "RevisionNotFound":
		advice = fmt.Sprintf("%s has no revision %q: check the branch, tag or commit after \"@\"", n.Repo, rev)
	case e.Code == "EntryNotFound":
		advice = fmt.Sprintf("%s has no file %q at revision %q: check the path", n.Repo, n.Path, rev)
	case e.Code == "RepoNotFound" || e.StatusCode == http.StatusUnauthorized:
		if e.Token {
			advice = fmt.Sprintf("repository %s not found, or the token sent has no access to it: check the name, and the token (HF_TOKEN or the token file)", n.Repo)
			if e.StatusCode == http.StatusUnauthorized && e.Code == "" {
				advice = fmt.Sprintf("the token was refused for %s: it may be invalid or expired; check HF_TOKEN or the token file", n.Repo)
			}
		} else {
			advice = fmt.Sprintf("repository %s not found: check the name; if it is private, set HF_TOKEN (or log in with `hf auth login`) to a token with access to it", n.Repo)
		}
	case e.StatusCode == http.StatusForbidden:
		advice = fmt.Sprintf("access denied: make sure the token has read access to %s", n.Repo)
	case e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone:
		advice = "not found"
	default:
		advice = "the request failed"
	}
	msg := fmt.Sprintf("hub: %s: %s (%d %s from %s)", n, advice, e.StatusCode, http.StatusText(e.StatusCode), e.URL)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the sentinel of the error's code and the fs error of its
// status, as [StatusError] says.
func (e *StatusError) Unwrap() []error {
	var errs []error
	switch e.Code {
	case "GatedRepo":
		errs = append(errs, ErrGatedRepo)
	case "RepoNotFound":
		errs = append(errs, ErrRepoNotFound)
	case "RevisionNotFound":
		errs = append(errs, ErrRevisionNotFound)
	case "EntryNotFound":
		errs = append(errs, ErrEntryNotFound)
	}
	switch e.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		errs = append(errs, fs.ErrNotExist)
	case http.StatusUnauthorized, http.StatusForbidden:
		errs = append(errs, fs.ErrPermission)
	}
	return errs
}
