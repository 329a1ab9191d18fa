package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite configs/tickroom.yaml from WriteSample")

const samplePath = "../../configs/tickroom.yaml"

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("tickroom", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeYAML(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tickroom.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// leaves returns a pointer (as uintptr) and a dotted name for every
// non-struct field of c, recursively.
func leaves(v reflect.Value, prefix string, out map[uintptr]string) {
	for i := range v.NumField() {
		f := v.Field(i)
		name := prefix + v.Type().Field(i).Name
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Duration(0)) {
			leaves(f, name+".", out)
			continue
		}
		out[f.Addr().Pointer()] = name
	}
}

func TestEveryFieldHasExactlyOneFlag(t *testing.T) {
	var c Config
	fields := map[uintptr]string{}
	leaves(reflect.ValueOf(&c).Elem(), "", fields)
	count := map[string]int{}
	names := map[string]bool{}
	for _, o := range options {
		if names[o.name] {
			t.Errorf("flag %q defined twice", o.name)
		}
		names[o.name] = true
		p := reflect.ValueOf(o.field(&c)).Pointer()
		f, ok := fields[p]
		if !ok {
			t.Errorf("flag %q points outside Config's fields", o.name)
			continue
		}
		count[f]++
		if o.usage == "" {
			t.Errorf("flag %q has no help line", o.name)
		}
	}
	for _, f := range fields {
		if count[f] != 1 {
			t.Errorf("Config field %s has %d flags, want 1", f, count[f])
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	fs := flag.NewFlagSet("tickroom", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	_, err := Load(fs, []string{"-h"}, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load(-h) err = %v, want flag.ErrHelp", err)
	}
	help := out.String()
	for _, name := range append(FlagNames(), ConfigFlag) {
		if !strings.Contains(help, "\n  -"+name+" ") && !strings.Contains(help, "\n  -"+name+"\n") {
			t.Errorf("-h does not list -%s", name)
		}
		if !strings.Contains(help, "(env "+EnvName(name)+")") {
			t.Errorf("-h does not name %s", EnvName(name))
		}
	}
	for _, want := range []string{"-heartbeat duration", "-max-conns int", "-chat-rate float", "-origins list", "-addr string", `(default ":8080")`, "(default 24h)", "Precedence"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, " value\n") {
		t.Errorf("-h shows an untyped placeholder:\n%s", help)
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"nats-listen":      "TICKROOM_NATS_LISTEN",
		"addr":             "TICKROOM_ADDR",
		"max-conns-per-ip": "TICKROOM_MAX_CONNS_PER_IP",
		"jwt-hs256-secret": "TICKROOM_JWT_HS256_SECRET",
		"config":           "TICKROOM_CONFIG",
	} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	l := c.Limits
	if c.Addr != ":8080" || c.DataDir != "./data" || c.NATSListen != "127.0.0.1:4222" || len(c.NATSURLs) != 0 ||
		!c.Dev || !c.Feeds || c.HeartbeatInterval != 20*time.Second || c.SessionTTL != 24*time.Hour ||
		c.LogLevel != "info" || c.Replicas != 1 || c.PprofAddr != "" || len(c.AllowedOrigins) != 0 ||
		!strings.HasPrefix(c.Node, "gw-") || c.JWT.Enabled() || c.JWT.Skew != 30*time.Second {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if l.MaxFrameBytes != 65536 || l.MaxChatBytes != 4096 || l.ChatRate != 5 || l.ChatBurst != 10 ||
		l.MaxSubscriptions != 256 || l.QueueBytes != 1<<20 || l.MaxConnections != 20000 || l.MaxConnectionsPerIP != 200 {
		t.Errorf("unexpected default limits: %+v", l)
	}
	// Load with nothing given is Default.
	got, err := Load(newFS(), nil, nil)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("Load() = %+v, %v; want %+v", got, err, c)
	}
}

func TestDefaultNode(t *testing.T) {
	for host, want := range map[string]string{
		"vm":                       "gw-vm",
		"Web-01.prod.example.com":  "gw-web-01",
		"a_b c!":                   "gw-abc",
		"---":                      "gw-1",
		"":                         "gw-1",
		strings.Repeat("x", 80):    "gw-" + strings.Repeat("x", 24),
		"ip-10-0-0-1.ec2.internal": "gw-ip-10-0-0-1",
	} {
		got := defaultNode(func() (string, error) { return host, nil })
		if got != want {
			t.Errorf("defaultNode(%q) = %q, want %q", host, got, want)
		}
		if !nodeRE.MatchString(got) {
			t.Errorf("defaultNode(%q) = %q is not a valid node", host, got)
		}
	}
	if got := defaultNode(func() (string, error) { return "", errors.New("no") }); got != "gw-1" {
		t.Errorf("hostname error: %q", got)
	}
}

func TestPrecedence(t *testing.T) {
	const yamlAll = `
addr: ":1001"
max-conns: 1001
nats: ["nats://file:4222"]
heartbeat: 11s
dev: false
jwt-hs256-secret: "file-secret-file-secret-file-secret"
`
	type tc struct {
		name string
		yaml string // "" = no file
		via  string // how the file is named: "flag", "env"
		env  map[string]string
		args []string
		want func(*Config)
	}
	cases := []tc{
		{name: "defaults", want: func(c *Config) {}},
		{name: "file over defaults", yaml: yamlAll, via: "flag", want: func(c *Config) {
			c.Addr, c.Limits.MaxConnections, c.NATSURLs, c.HeartbeatInterval, c.Dev = ":1001", 1001, []string{"nats://file:4222"}, 11*time.Second, false
			c.JWT.HS256Secret = "file-secret-file-secret-file-secret"
		}},
		{name: "file named by env", yaml: yamlAll, via: "env", want: func(c *Config) {
			c.Addr, c.Limits.MaxConnections, c.NATSURLs, c.HeartbeatInterval, c.Dev = ":1001", 1001, []string{"nats://file:4222"}, 11*time.Second, false
			c.JWT.HS256Secret = "file-secret-file-secret-file-secret"
		}},
		{name: "env over file", yaml: yamlAll, via: "flag",
			env: map[string]string{"TICKROOM_ADDR": ":2002", "TICKROOM_NATS": "nats://e1:4222, nats://e2:4222", "TICKROOM_DEV": "true", "TICKROOM_MAX_CONNS": ""},
			want: func(c *Config) {
				c.Addr, c.Limits.MaxConnections, c.NATSURLs, c.HeartbeatInterval, c.Dev = ":2002", 1001, []string{"nats://e1:4222", "nats://e2:4222"}, 11*time.Second, true
				c.JWT.HS256Secret = "file-secret-file-secret-file-secret"
			}},
		{name: "flags over env over file", yaml: yamlAll, via: "flag",
			env:  map[string]string{"TICKROOM_ADDR": ":2002", "TICKROOM_HEARTBEAT": "22s", "TICKROOM_NATS": "nats://e1:4222"},
			args: []string{"-addr", ":3003", "-nats=nats://f1:4222,nats://f2:4222", "-dev"},
			want: func(c *Config) {
				c.Addr, c.Limits.MaxConnections, c.NATSURLs, c.HeartbeatInterval, c.Dev = ":3003", 1001, []string{"nats://f1:4222", "nats://f2:4222"}, 22*time.Second, true
				c.JWT.HS256Secret = "file-secret-file-secret-file-secret"
			}},
		{name: "env over defaults, no file",
			env: map[string]string{"TICKROOM_NATS_LISTEN": "off", "TICKROOM_CHAT_RATE": "2.5", "TICKROOM_ORIGINS": "https://a.example,https://b.example", "TICKROOM_FEEDS": "false"},
			want: func(c *Config) {
				c.NATSListen, c.Limits.ChatRate, c.AllowedOrigins, c.Feeds = "off", 2.5, []string{"https://a.example", "https://b.example"}, false
			}},
		{name: "flag over env, no file",
			env:  map[string]string{"TICKROOM_LOG_LEVEL": "debug", "TICKROOM_FEEDS": "false"},
			args: []string{"-log-level=warn", "-feeds=true", "-origins", "https://a.example", "-origins", "https://b.example,https://c.example"},
			want: func(c *Config) {
				c.LogLevel, c.Feeds = "warn", true
				c.AllowedOrigins = []string{"https://a.example", "https://b.example", "https://c.example"}
			}},
		{name: "flag -config over env TICKROOM_CONFIG", yaml: yamlAll, via: "both", want: func(c *Config) {
			c.Addr, c.Limits.MaxConnections, c.NATSURLs, c.HeartbeatInterval, c.Dev = ":1001", 1001, []string{"nats://file:4222"}, 11*time.Second, false
			c.JWT.HS256Secret = "file-secret-file-secret-file-secret"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range c.env {
				env[k] = v
			}
			args := slices.Clone(c.args)
			if c.yaml != "" {
				p := writeYAML(t, c.yaml)
				switch c.via {
				case "flag":
					args = append([]string{"-config", p}, args...)
				case "env":
					env["TICKROOM_CONFIG"] = p
				case "both":
					args = append([]string{"-config", p}, args...)
					env["TICKROOM_CONFIG"] = filepath.Join(t.TempDir(), "does-not-exist.yaml")
				}
			}
			got, err := Load(newFS(), args, envMap(env))
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			c.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadKeepsPositionalArgs(t *testing.T) {
	fs := newFS()
	if _, err := Load(fs, []string{"-addr", ":9", "market", "extra"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := fs.Args(); !slices.Equal(got, []string{"market", "extra"}) {
		t.Fatalf("Args() = %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		yaml string
		want []string // substrings of the error
	}{
		{name: "bad flag int", args: []string{"-max-conns", "lots"}, want: []string{"max-conns", "lots"}},
		{name: "bad flag duration", args: []string{"-heartbeat", "20"}, want: []string{"heartbeat", "duration"}},
		{name: "unknown flag", args: []string{"-nope"}, want: []string{"nope"}},
		{name: "bad env", env: map[string]string{"TICKROOM_MAX_SUBS": "x"}, want: []string{"TICKROOM_MAX_SUBS"}},
		{name: "bad env bool", env: map[string]string{"TICKROOM_DEV": "yes please"}, want: []string{"TICKROOM_DEV"}},
		{name: "missing file", args: []string{"-config", "/nonexistent/tickroom.yaml"}, want: []string{"/nonexistent/tickroom.yaml"}},
		{name: "invalid result", args: []string{"-max-conns", "0"}, want: []string{"max-conns", "> 0"}},
		{name: "unknown yaml key", yaml: "addr: ':1'\nmax-con: 5\n", want: []string{"line 2", `unknown key "max-con"`, `did you mean "max-conns"`}},
		{name: "unknown yaml key far", yaml: "zzzzzzzz: 1\n", want: []string{`unknown key "zzzzzzzz"`}},
		{name: "config in yaml", yaml: "config: other.yaml\n", want: []string{`unknown key "config"`}},
		{name: "removed yaml key", yaml: "write-delay: 5ms\n", want: []string{`unknown key "write-delay"`, "removed: connection writers now coalesce by taking turns"}},
		{name: "nested yaml key", yaml: "jwt:\n  issuer: x\n", want: []string{`unknown key "jwt"`}},
		{name: "repeated key", yaml: "addr: ':1'\naddr: ':2'\n", want: []string{`"addr" repeated`}},
		{name: "map value", yaml: "addr: {a: 1}\n", want: []string{"addr", "single value"}},
		{name: "list for scalar", yaml: "addr: [':1']\n", want: []string{"addr", "list is not allowed"}},
		{name: "bad yaml type", yaml: "max-conns: many\n", want: []string{"line 1", "max-conns", "integer"}},
		{name: "not a mapping", yaml: "- a\n- b\n", want: []string{"mapping"}},
		{name: "yaml syntax", yaml: "addr: [\n", want: []string{"tickroom.yaml"}},
		{name: "list of maps", yaml: "nats:\n  - {a: 1}\n", want: []string{"nats", "strings"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.yaml != "" {
				args = append([]string{"-config", writeYAML(t, c.yaml)}, args...)
			}
			_, err := Load(newFS(), args, envMap(c.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestYAMLValues(t *testing.T) {
	c := Default()
	err := ApplyYAML(&c, []byte(`
# comment
nats:
  - nats://a:4222
  - " nats://b:4222 "
origins: "https://x.example, https://y.example"
node: ~
log-level:
chat-rate: 0.5
max-frame-bytes: 131_072
session-ttl: 1h30m
feeds: "false"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.NATSURLs = []string{"nats://a:4222", "nats://b:4222"}
	want.AllowedOrigins = []string{"https://x.example", "https://y.example"}
	want.Limits.ChatRate = 0.5
	want.Limits.MaxFrameBytes = 131072
	want.SessionTTL = 90 * time.Minute
	want.Feeds = false
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	// An empty list clears.
	if err := ApplyYAML(&c, []byte("nats: []\norigins: []\n")); err != nil || c.NATSURLs != nil || c.AllowedOrigins != nil {
		t.Fatalf("empty lists: %v %q %q", err, c.NATSURLs, c.AllowedOrigins)
	}
	for _, empty := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		c := Default()
		if err := ApplyYAML(&c, []byte(empty)); err != nil || !reflect.DeepEqual(c, Default()) {
			t.Errorf("ApplyYAML(%q): %v", empty, err)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		field string
		mut   func(*Config)
	}{
		{"addr", func(c *Config) { c.Addr = "" }},
		{"addr", func(c *Config) { c.Addr = "8080" }},
		{"addr", func(c *Config) { c.Addr = ":99999" }},
		{"data", func(c *Config) { c.DataDir = " " }},
		{"nats-listen", func(c *Config) { c.NATSListen = "" }},
		{"nats-listen", func(c *Config) { c.NATSListen = "localhost" }},
		{"nats", func(c *Config) { c.NATSURLs = []string{"http://x:4222"} }},
		{"nats", func(c *Config) { c.NATSURLs = []string{"nats://"} }},
		{"node", func(c *Config) { c.Node = "" }},
		{"node", func(c *Config) { c.Node = "gw 1" }},
		{"node", func(c *Config) { c.Node = "gw.1" }},
		{"origins", func(c *Config) { c.AllowedOrigins = []string{"example.com"} }},
		{"origins", func(c *Config) { c.AllowedOrigins = []string{"https://example.com/path"} }},
		{"origins", func(c *Config) { c.AllowedOrigins = []string{"ftp://example.com"} }},
		{"heartbeat", func(c *Config) { c.HeartbeatInterval = 0 }},
		{"heartbeat", func(c *Config) { c.HeartbeatInterval = 2 * time.Hour }},
		{"session-ttl", func(c *Config) { c.SessionTTL = 0 }},
		{"jwt-hs256-secret", func(c *Config) { c.JWT.HS256Secret = "short" }},
		{"jwt-hs256-secret", func(c *Config) { c.JWT.HS256Secret = strings.Repeat("s", 32); c.JWT.JWKSFile = "k.json" }},
		{"jwt-issuer", func(c *Config) { c.JWT.Issuer = "https://idp" }},
		{"jwt-audience", func(c *Config) { c.JWT.Audience = "tickroom" }},
		{"jwt-skew", func(c *Config) { c.JWT.Skew = -time.Second }},
		{"dev", func(c *Config) { c.Dev = false }},
		{"max-conns", func(c *Config) { c.Limits.MaxConnections = 0 }},
		{"max-conns-per-ip", func(c *Config) { c.Limits.MaxConnectionsPerIP = -1 }},
		{"max-conns-per-ip", func(c *Config) { c.Limits.MaxConnectionsPerIP = c.Limits.MaxConnections + 1 }},
		{"max-subs", func(c *Config) { c.Limits.MaxSubscriptions = 0 }},
		{"max-frame-bytes", func(c *Config) { c.Limits.MaxFrameBytes = 100 }},
		{"max-chat-bytes", func(c *Config) { c.Limits.MaxChatBytes = 0 }},
		{"max-chat-bytes", func(c *Config) { c.Limits.MaxChatBytes = c.Limits.MaxFrameBytes + 1 }},
		{"chat-rate", func(c *Config) { c.Limits.ChatRate = 0 }},
		{"chat-rate", func(c *Config) { c.Limits.ChatRate = math.NaN() }},
		{"chat-rate", func(c *Config) { c.Limits.ChatRate = math.Inf(1) }},
		{"chat-burst", func(c *Config) { c.Limits.ChatBurst = 0 }},
		{"subscribe-rate", func(c *Config) { c.Limits.SubscribeRate = -1 }},
		{"subscribe-burst", func(c *Config) { c.Limits.SubscribeBurst = 0 }},
		{"queue-bytes", func(c *Config) { c.Limits.QueueBytes = 0 }},
		{"queue-bytes", func(c *Config) { c.Limits.QueueBytes = c.Limits.MaxFrameBytes - 1 }},
		{"replay-window", func(c *Config) { c.Limits.ReplayWindow = 0 }},
		{"replay-window-bytes", func(c *Config) { c.Limits.ReplayWindowBytes = -1 }},
		{"tls-key", func(c *Config) { c.TLSCert = "cert.pem" }},
		{"tls-cert", func(c *Config) { c.TLSKey = "key.pem" }},
		{"replicas", func(c *Config) { c.Replicas = 0 }},
		{"replicas", func(c *Config) { c.Replicas = 7 }},
		{"pprof", func(c *Config) { c.PprofAddr = "6060" }},
		{"log-level", func(c *Config) { c.LogLevel = "INFO" }},
		{"log-level", func(c *Config) { c.LogLevel = "" }},
		{"admin-token", func(c *Config) { c.AdminToken = "short" }},
	}
	known := map[string]bool{}
	for _, n := range FlagNames() {
		known[n] = true
	}
	for _, tc := range cases {
		c := Default()
		tc.mut(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: no error for %+v", tc.field, c)
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: error %q names the wrong field", tc.field, err)
		}
		if !known[fe.Field] {
			t.Errorf("error names %q, which is no flag", fe.Field)
		}
		if !strings.HasPrefix(err.Error(), tc.field+": ") {
			t.Errorf("%s: message %q does not start with the field", tc.field, err)
		}
	}

	// All problems are reported at once.
	c := Default()
	c.Addr, c.Limits.ChatBurst, c.LogLevel = "", 0, "loud"
	err := c.Validate()
	for _, f := range []string{"addr:", "chat-burst:", "log-level:"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("joined error %v lacks %s", err, f)
		}
	}

	// Valid non-defaults.
	ok := []func(*Config){
		func(c *Config) { c.NATSListen = "off" },
		func(c *Config) { c.NATSURLs = []string{"nats://a:4222", "tls://b:4222", "c:4222", "nats://u:p@d:4222"} },
		func(c *Config) {
			c.AllowedOrigins = []string{"*", "https://a.example", "http://localhost:8080", "https://b.example/"}
		},
		func(c *Config) { c.Dev = false; c.JWT.JWKSFile = "jwks.json"; c.JWT.Issuer = "i"; c.JWT.Audience = "a" },
		func(c *Config) { c.Dev = false; c.JWT.HS256Secret = strings.Repeat("s", 32) },
		func(c *Config) { c.TLSCert, c.TLSKey = "c.pem", "k.pem" },
		func(c *Config) { c.PprofAddr = "127.0.0.1:6060"; c.AdminToken = strings.Repeat("t", 16) },
		func(c *Config) { c.Replicas = 3; c.HeartbeatInterval = 50 * time.Millisecond; c.JWT.Skew = 0 },
	}
	for i, mut := range ok {
		c := Default()
		mut(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("valid config %d refused: %v", i, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.JWT.HS256Secret = strings.Repeat("s", 32)
	c.AdminToken = "admin-token-value-123"
	c.NATSURLs = []string{"nats://user:pass@host:4222", "nats://plain:4222"}
	r := c.Redacted()
	s := strings.Join([]string{r.JWT.HS256Secret, r.AdminToken, strings.Join(r.NATSURLs, " ")}, " ")
	for _, secret := range []string{c.JWT.HS256Secret, c.AdminToken, "pass"} {
		if strings.Contains(s, secret) {
			t.Errorf("Redacted still holds %q: %s", secret, s)
		}
	}
	if r.NATSURLs[1] != "nats://plain:4222" {
		t.Errorf("plain URL changed: %q", r.NATSURLs[1])
	}
	if c.NATSURLs[0] != "nats://user:pass@host:4222" {
		t.Error("Redacted modified the original")
	}
}

// configs/tickroom.yaml is WriteSample's output, lists every key, and loads
// to the defaults.
func TestSampleFile(t *testing.T) {
	var want bytes.Buffer
	if err := WriteSample(&want); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(samplePath, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("%s is out of date: run go test ./internal/config -run TestSampleFile -update", samplePath)
	}
	for _, name := range FlagNames() {
		if !strings.Contains(string(got), "\n"+name+":") && !strings.Contains(string(got), "\n# "+name+":") {
			t.Errorf("sample lacks key %q", name)
		}
	}
	c, err := Load(newFS(), []string{"-config", samplePath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("sample loads to %+v, want defaults %+v", c, Default())
	}
	// Every key, uncommented, is accepted.
	all := strings.ReplaceAll(string(got), "# node: ", "node: ")
	c = Default()
	if err := ApplyYAML(&c, []byte(all)); err != nil {
		t.Fatal(err)
	}
}

// The gateway checks HTTP limits built in code with the same bounds a
// loaded configuration passes.
func TestHTTPLimitsValidate(t *testing.T) {
	if err := Default().HTTP.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	h := Default().HTTP
	h.ReadHeaderTimeout, h.MaxHalfOpenPerIP = time.Millisecond, 0
	err := h.Validate()
	if err == nil || !strings.Contains(err.Error(), "http-read-header-timeout") || !strings.Contains(err.Error(), "http-max-half-open-per-ip") {
		t.Fatalf("bad limits: %v, want both fields named", err)
	}
}
