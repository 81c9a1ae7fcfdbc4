// Package redact prints URLs for messages without what may be secret in
// them.
package redact

import "net/url"

// URL returns u without its query, fragment and password (signed URLs and
// user information carry credentials); the user name stays.
func URL(u *url.URL) string {
	c := *u
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}
