package natsbus

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
)

// With a token or a users file, the embedded server's TCP listener refuses
// clients without credentials, accepts the configured ones, and the
// in-process bus still works.
func TestEmbeddedServerRequiresCredentials(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.conf")
	if err := os.WriteFile(users, []byte(`authorization { users: [ {user: feed, password: feedpw, permissions: {publish: ["market.>"], subscribe: ["_INBOX.>"]}} ] }`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cfg  ServerConfig
		good []nats.Option
	}{
		"token":      {ServerConfig{Token: "s3cret-token-1234"}, []nats.Option{nats.Token("s3cret-token-1234")}},
		"users file": {ServerConfig{UsersFile: users}, []nats.Option{nats.UserInfo("feed", "feedpw")}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.DataDir, cfg.Listen, cfg.MaxMemory, cfg.MaxStore = t.TempDir(), "127.0.0.1:0", 64<<20, 256<<20
			s, err := StartServer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Shutdown)
			if nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect()); err == nil {
				nc.Close()
				t.Fatal("a client without credentials was accepted")
			}
			if nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect(), nats.UserInfo("feed", "wrong")); err == nil {
				nc.Close()
				t.Fatal("a client with a wrong password was accepted")
			}
			nc, err := nats.Connect(s.ClientURL(), append(tc.good, nats.NoReconnect())...)
			if err != nil {
				t.Fatalf("configured credentials refused: %v", err)
			}
			nc.Close()
			b := connectTest(t, Config{Server: s})
			if !b.Ready() {
				t.Fatalf("in-process bus not ready: %s", b.Status())
			}
			mustPublish(t, b, "chat.lobby", `{"text":"hi"}`, "a1")
		})
	}
	if _, err := StartServer(ServerConfig{DataDir: t.TempDir(), Token: "x", UsersFile: users}); err == nil {
		t.Fatal("Token and UsersFile together accepted")
	}
}
