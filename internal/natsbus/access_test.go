package natsbus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// The bus authenticates to an external server with user/password, a token
// or an nkey seed file; a missing file or conflicting settings fail
// Connect with a message naming what is wrong.
func TestAccessOptions(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.conf")
	if err := os.WriteFile(users, []byte(`authorization { users: [ {user: gw, password: gwpw} ] }`), 0o600); err != nil {
		t.Fatal(err)
	}
	nkeyConf := filepath.Join(dir, "nkeys.conf")
	if err := os.WriteFile(nkeyConf, []byte(`authorization { users: [ {nkey: `+pub+`} ] }`), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(cfg ServerConfig) *Server {
		cfg.DataDir, cfg.Listen, cfg.MaxMemory, cfg.MaxStore = t.TempDir(), "127.0.0.1:0", 64<<20, 256<<20
		s, err := StartServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		return s
	}
	for name, tc := range map[string]struct {
		srv    ServerConfig
		access Access
	}{
		"user/password": {ServerConfig{UsersFile: users}, Access{User: "gw", Password: "gwpw"}},
		"token":         {ServerConfig{Token: "tok-0123456789abcdef"}, Access{Token: "tok-0123456789abcdef"}},
		"nkey seed":     {ServerConfig{UsersFile: nkeyConf}, Access{NKeySeedFile: seedFile}},
	} {
		t.Run(name, func(t *testing.T) {
			s := start(tc.srv)
			b := connectTest(t, Config{URLs: []string{s.ClientURL()}, Access: tc.access})
			if !b.Ready() {
				t.Fatalf("not ready: %s", b.Status())
			}
			mustPublish(t, b, "chat.lobby", `{"text":"hi"}`, "x1")
		})
	}
	for name, a := range map[string]Access{
		"missing creds": {CredsFile: filepath.Join(dir, "nope.creds")},
		"two methods":   {Token: "t", User: "u", Password: "p"},
		"cert, no key":  {TLSCert: seedFile},
		"user, no pw":   {User: "u"},
		"missing CA":    {TLSCA: filepath.Join(dir, "nope.pem")},
		"bad nkey file": {NKeySeedFile: users},
	} {
		_, err := Connect(ctxT(t), Config{URLs: []string{"nats://127.0.0.1:1"}, Access: a, Logger: quietLogger()})
		if err == nil || !strings.HasPrefix(err.Error(), "natsbus: ") {
			t.Errorf("%s: Connect error %v", name, err)
		}
	}
}
