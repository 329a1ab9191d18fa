package natsbus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// internalUser is the embedded server's own user for the in-process bus
// when a users file is enforced.
const internalUser = "tickroom-internal"

// authOptions applies cfg.Token or cfg.UsersFile to opts and returns what
// the in-process bus must present. The users file is parsed by nats-server
// itself, so its syntax and permissions are nats-server's.
func authOptions(cfg ServerConfig, opts *server.Options) ([]nats.Option, error) {
	switch {
	case cfg.Token != "" && cfg.UsersFile != "":
		return nil, errors.New("natsbus: ServerConfig: set Token or UsersFile, not both")
	case cfg.Token != "":
		opts.Authorization = cfg.Token
		return []nats.Option{nats.Token(cfg.Token)}, nil
	case cfg.UsersFile == "":
		return nil, nil
	}
	fo, err := server.ProcessConfigFile(cfg.UsersFile)
	if err != nil {
		return nil, fmt.Errorf("natsbus: users file: %w", err)
	}
	users := fo.Users
	if fo.Username != "" { // authorization { user, password }
		users = append(users, &server.User{Username: fo.Username, Password: fo.Password})
	}
	if fo.Authorization != "" {
		return nil, fmt.Errorf("natsbus: users file %s: has a token; use Token instead", cfg.UsersFile)
	}
	if len(users) == 0 && len(fo.Nkeys) == 0 {
		return nil, fmt.Errorf("natsbus: users file %s: no users or nkeys in its authorization block", cfg.UsersFile)
	}
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, fmt.Errorf("natsbus: internal user: %w", err)
	}
	secret := hex.EncodeToString(pw[:])
	for _, u := range users {
		if u.Username == internalUser {
			return nil, fmt.Errorf("natsbus: users file %s: user name %q is reserved", cfg.UsersFile, internalUser)
		}
	}
	opts.Users = append(users, &server.User{Username: internalUser, Password: secret})
	opts.Nkeys = fo.Nkeys
	return []nats.Option{nats.UserInfo(internalUser, secret)}, nil
}
