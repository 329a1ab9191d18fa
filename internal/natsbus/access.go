package natsbus

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// Access is how the bus authenticates to external NATS servers and secures
// the connection. At most one of Token, User/Password, CredsFile and
// NKeySeedFile may be set (user and password may also come from the URLs).
// TLS options work with any of them; TLSCA alone verifies the servers with
// that CA, TLSCert+TLSKey add a client certificate. Files are checked when
// the bus connects, so a typo fails the start with the file's name.
type Access struct {
	Token        string // server token (nats-server `authorization { token }`)
	User         string
	Password     string
	CredsFile    string // a .creds file (user JWT + nkey seed), for operator/JWT-mode servers
	NKeySeedFile string // a file holding an nkey user seed (SU…)
	TLSCA        string // PEM CA bundle to verify the servers
	TLSCert      string // PEM client certificate (with TLSKey)
	TLSKey       string // PEM client key
}

// options turns a into nats.go options, failing on conflicting settings
// and unreadable files.
func (a Access) options() ([]nats.Option, error) {
	n := 0
	for _, set := range []bool{a.Token != "", a.User != "" || a.Password != "", a.CredsFile != "", a.NKeySeedFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("natsbus: set only one of NATS token, user/password, creds file, nkey seed")
	}
	if (a.User == "") != (a.Password == "") {
		return nil, errors.New("natsbus: NATS user and password go together")
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return nil, errors.New("natsbus: NATS TLS client certificate and key go together")
	}
	for _, f := range []struct{ what, path string }{
		{"creds file", a.CredsFile}, {"nkey seed file", a.NKeySeedFile},
		{"TLS CA", a.TLSCA}, {"TLS certificate", a.TLSCert}, {"TLS key", a.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("natsbus: NATS %s: %w", f.what, err)
		}
	}
	var opts []nats.Option
	switch {
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	case a.CredsFile != "":
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	case a.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("natsbus: NATS nkey seed %s: %w", a.NKeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if a.TLSCA != "" {
		opts = append(opts, nats.RootCAs(a.TLSCA))
	}
	if a.TLSCert != "" {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	return opts, nil
}

// describeURLs names the servers for error messages and logs, with any
// password or token in them redacted.
func describeURLs(list []string) string {
	var urls []string
	for _, l := range list {
		urls = append(urls, strings.Split(l, ",")...)
	}
	out := make([]string, len(urls))
	for i, s := range urls {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if _, hasPassword := u.User.Password(); hasPassword {
				u.User = url.User(u.User.Username()) // user:password → user
			} else {
				u.User = url.User("redacted") // a lone user part is a token
			}
			s = u.String()
		}
		out[i] = s
	}
	return strings.Join(out, ",")
}

// servers names what the bus connects to, for error messages.
func (b *Bus) servers() string {
	if b.cfg.Server != nil {
		return "the embedded nats-server"
	}
	return "NATS " + describeURLs(b.cfg.URLs)
}
