package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable read by Load.
const EnvPrefix = "TICKROOM_"

// ConfigFlag names the flag (and TICKROOM_CONFIG variable) giving the YAML
// file. It is not a YAML key.
const ConfigFlag = "config"

// EnvName returns the environment variable for a flag name:
// "nats-listen" → "TICKROOM_NATS_LISTEN".
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// option binds one flag name to one Config field.
type option struct {
	name  string
	usage string
	field func(*Config) any // pointer to the field: *string, *bool, *int, *float64, *time.Duration, *[]string
}

// options lists every setting, in the order -h and the sample file show
// them. The test checks that each Config field appears exactly once.
var options = []option{
	{"addr", "HTTP and WebSocket listen address", func(c *Config) any { return &c.Addr }},
	{"data", "data directory (JetStream store, session key)", func(c *Config) any { return &c.DataDir }},
	{"nats-listen", `embedded NATS server's client address for outside producers; "off" disables`, func(c *Config) any { return &c.NATSListen }},
	{"nats", "external NATS server URLs, comma-separated; empty runs an embedded server", func(c *Config) any { return &c.NATSURLs }},
	{"node", "this gateway's name, unique in a deployment (default derived from the hostname)", func(c *Config) any { return &c.Node }},
	{"dev", "dev mode: guests and sign-in by name", func(c *Config) any { return &c.Dev }},
	{"origins", `allowed browser origins, comma-separated; empty = same-origin only, "*" = any`, func(c *Config) any { return &c.AllowedOrigins }},
	{"heartbeat", "WebSocket ping interval; silent peers are closed after two", func(c *Config) any { return &c.HeartbeatInterval }},
	{"session-ttl", "dev session lifetime", func(c *Config) any { return &c.SessionTTL }},
	{"jwt-hs256-secret", "identity provider HS256 secret, at least 32 bytes (prefer the environment to the command line)", func(c *Config) any { return &c.JWT.HS256Secret }},
	{"jwt-public-key", "identity provider RS256/ES256 public key, PEM file", func(c *Config) any { return &c.JWT.PublicKeyFile }},
	{"jwt-jwks", "identity provider JWKS file", func(c *Config) any { return &c.JWT.JWKSFile }},
	{"jwt-jwks-url", "identity provider JWKS URL, refreshed hourly and on an unknown kid (at most once a minute)", func(c *Config) any { return &c.JWT.JWKSURL }},
	{"jwt-issuer", `required JWT "iss", if set`, func(c *Config) any { return &c.JWT.Issuer }},
	{"jwt-audience", `required JWT "aud", if set`, func(c *Config) any { return &c.JWT.Audience }},
	{"jwt-skew", "clock skew tolerated on JWT exp/nbf", func(c *Config) any { return &c.JWT.Skew }},
	{"max-conns", "maximum WebSocket connections per gateway", func(c *Config) any { return &c.Limits.MaxConnections }},
	{"max-conns-per-ip", "maximum WebSocket connections per client IP", func(c *Config) any { return &c.Limits.MaxConnectionsPerIP }},
	{"max-subs", "maximum subscriptions per connection", func(c *Config) any { return &c.Limits.MaxSubscriptions }},
	{"max-frame-bytes", "largest client frame in bytes (larger closes with 1009)", func(c *Config) any { return &c.Limits.MaxFrameBytes }},
	{"max-chat-bytes", "largest chat message in bytes (larger gets too_large)", func(c *Config) any { return &c.Limits.MaxChatBytes }},
	{"chat-rate", "chat publishes per second per user", func(c *Config) any { return &c.Limits.ChatRate }},
	{"chat-burst", "chat publish burst per user", func(c *Config) any { return &c.Limits.ChatBurst }},
	{"subscribe-rate", "subscribes per second per connection", func(c *Config) any { return &c.Limits.SubscribeRate }},
	{"subscribe-burst", "subscribe burst per connection", func(c *Config) any { return &c.Limits.SubscribeBurst }},
	{"queue-bytes", "outbound queue per connection in bytes (overflow: ticks conflated, chat closes with 4000)", func(c *Config) any { return &c.Limits.QueueBytes }},
	{"replay-window", "newest messages (candles: bars) held in memory per carried chat room, candle or alert channel; a resume within them costs JetStream nothing", func(c *Config) any { return &c.Limits.ReplayWindow }},
	{"replay-window-bytes", "memory bound of all replay windows together, in bytes; the oldest held messages go first", func(c *Config) any { return &c.Limits.ReplayWindowBytes }},
	{"room-read", `restrict reading channels: PATTERN=NAME,NAME,@ROLE (repeatable; e.g. chat.desk=ana,bob,@trader); unlisted channels are open`, func(c *Config) any { return &c.RoomRead }},
	{"room-write", `restrict publishing to chat channels: PATTERN=NAME,@ROLE (repeatable; "chat.news=" allows nobody)`, func(c *Config) any { return &c.RoomWrite }},
	{"trusted-proxies", "reverse proxies (IPs or CIDRs, comma-separated) trusted to name the client in proxy-header; empty = use the TCP peer", func(c *Config) any { return &c.TrustedProxies }},
	{"proxy-header", "header naming the client behind a trusted proxy (X-Forwarded-For: the right-most untrusted hop; or X-Real-IP)", func(c *Config) any { return &c.ProxyHeader }},
	{"tls-cert", "TLS certificate PEM file (with -tls-key: serve HTTPS and WSS)", func(c *Config) any { return &c.TLSCert }},
	{"tls-key", "TLS private key PEM file", func(c *Config) any { return &c.TLSKey }},
	{"replicas", "JetStream stream replicas (3 on a NATS cluster)", func(c *Config) any { return &c.Replicas }},
	{"feeds", "run the simulated market feeds in-process (all-in-one mode)", func(c *Config) any { return &c.Feeds }},
	{"pprof", `net/http/pprof listen address, e.g. 127.0.0.1:6060; "" off`, func(c *Config) any { return &c.PprofAddr }},
	{"log-level", "log level: debug, info, warn, error", func(c *Config) any { return &c.LogLevel }},
	{"admin-token", `bearer token for admin endpoints; "" disables them (prefer the environment to the command line)`, func(c *Config) any { return &c.AdminToken }},
	{"moderators", "chat moderators by user name (comma-separated): they delete any message and mute users", func(c *Config) any { return &c.Moderators }},
	{"moderator-role", "JWT role (in the roles claim) that makes a user a chat moderator", func(c *Config) any { return &c.ModeratorRole }},
}

// FlagNames returns every setting's flag name (= YAML key), in order.
func FlagNames() []string {
	out := make([]string, len(options))
	for i, o := range options {
		out[i] = o.name
	}
	return out
}

func lookupOption(name string) (option, bool) {
	for _, o := range options {
		if o.name == name {
			return o, true
		}
	}
	return option{}, false
}

// set parses s into o's field of c.
func (o option) set(c *Config, s string) error {
	switch p := o.field(c).(type) {
	case *string:
		*p = s
	case *bool:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q: want true or false", s)
		}
		*p = v
	case *int:
		v, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
		if err != nil {
			return fmt.Errorf("%q: want an integer", s)
		}
		*p = v
	case *float64:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q: want a number", s)
		}
		*p = v
	case *time.Duration:
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q: want a duration such as 20s, 5m, 24h", s)
		}
		*p = v
	case *[]string:
		*p = splitList(s)
	default:
		panic(fmt.Sprintf("config: option %s: unsupported field type %T", o.name, p))
	}
	return nil
}

// get formats o's field of c the way set parses it.
func (o option) get(c *Config) string {
	switch p := o.field(c).(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *float64:
		return strconv.FormatFloat(*p, 'g', -1, 64)
	case *time.Duration:
		return formatDuration(*p)
	case *[]string:
		return strings.Join(*p, ",")
	}
	panic("config: unsupported field type")
}

// formatDuration drops the zero tails of time.Duration.String: 24h, not
// 24h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// typeName is the placeholder -h shows after a flag name.
func (o option) typeName() string {
	switch o.field(&Config{}).(type) {
	case *bool:
		return ""
	case *int:
		return "int"
	case *float64:
		return "float"
	case *time.Duration:
		return "duration"
	case *[]string:
		return "list"
	}
	return "string"
}

func (o option) isBool() bool {
	_, ok := o.field(&Config{}).(*bool)
	return ok
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// flagValue is what Load registers for each option: it records what was
// given on the command line, to be applied after file and environment.
type flagValue struct {
	opt   option
	def   *Config // shown as the default by -h
	given []string
}

func (v *flagValue) String() string {
	if v == nil || v.def == nil {
		return ""
	}
	return v.opt.get(v.def)
}

func (v *flagValue) Set(s string) error {
	var scratch Config
	if err := v.opt.set(&scratch, s); err != nil { // report bad values at parse time
		return err
	}
	v.given = append(v.given, s)
	return nil
}

func (v *flagValue) IsBoolFlag() bool { return v.opt.isBool() }

// apply sets the field from the command line. A list flag given several
// times accumulates (-origins a -origins b); any other flag: last wins.
func (v *flagValue) apply(c *Config) error {
	if len(v.given) == 0 {
		return nil
	}
	s := v.given[len(v.given)-1]
	if _, ok := v.opt.field(c).(*[]string); ok {
		s = strings.Join(v.given, ",")
	}
	return v.opt.set(c, s)
}

// Load builds the configuration: Default(), then the YAML file named by
// -config (or TICKROOM_CONFIG), then TICKROOM_* environment variables,
// then flags; and validates the result.
//
// It registers every flag on fs (which must not define them already) and
// parses args (without the program name); arguments after the flags remain
// in fs.Args(). getenv is usually os.Getenv; nil means no environment. An
// empty variable counts as unset. Load sets fs.Usage to a text listing
// every flag with its type, default and environment variable (see
// PrintDefaults); on -h it prints that to fs.Output() and, with
// flag.ContinueOnError, returns flag.ErrHelp.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	def := Default()
	values := make([]*flagValue, len(options))
	for i, o := range options {
		values[i] = &flagValue{opt: o, def: &def}
		fs.Var(values[i], o.name, o.usage+" (env "+EnvName(o.name)+")")
	}
	var configFile string
	fs.StringVar(&configFile, ConfigFlag, "", "YAML config file; keys are the flag names (env "+EnvName(ConfigFlag)+")")
	fs.Usage = func() { writeUsage(fs) }
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}

	cfg := Default()
	if configFile == "" {
		configFile = getenv(EnvName(ConfigFlag))
	}
	if configFile != "" {
		data, err := os.ReadFile(configFile)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := applyYAML(&cfg, data); err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", configFile, err)
		}
	}
	for _, o := range options {
		env := EnvName(o.name)
		if s := getenv(env); s != "" {
			if err := o.set(&cfg, s); err != nil {
				return Config{}, fmt.Errorf("config: %s: %w", env, err)
			}
		}
	}
	for _, v := range values {
		if err := v.apply(&cfg); err != nil {
			return Config{}, fmt.Errorf("config: -%s: %w", v.opt.name, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

func writeUsage(fs *flag.FlagSet) {
	w := fs.Output()
	name := fs.Name()
	if name == "" {
		name = "tickroom"
	}
	fmt.Fprintf(w, "Usage of %s:\n", name)
	PrintDefaults(fs)
	fmt.Fprintf(w, "\nEvery flag can also be set in the -config YAML file (key = flag name)\n"+
		"or the environment (%s<FLAG>, upper case, '-' as '_').\n"+
		"Precedence: defaults < config file < environment < flags.\n", EnvPrefix)
}

// PrintDefaults is flag.PrintDefaults with typed placeholders for the
// settings Load registered (-heartbeat duration, not -heartbeat value).
// Use it in a custom fs.Usage.
func PrintDefaults(fs *flag.FlagSet) {
	w := fs.Output()
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		def := f.DefValue
		if v, ok := f.Value.(*flagValue); ok {
			typ = v.opt.typeName()
		} else if typ == "value" {
			typ = ""
		}
		line := "  -" + f.Name
		if typ != "" {
			line += " " + typ
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if def != "" && def != "false" && def != "0" {
			if _, isStr := f.Value.(*flagValue); isStr && typeNeedsQuote(f.Value.(*flagValue).opt) {
				def = strconv.Quote(def)
			}
			line += " (default " + def + ")"
		}
		fmt.Fprintln(w, line)
	})
}

func typeNeedsQuote(o option) bool {
	_, ok := o.field(&Config{}).(*string)
	return ok
}

// ApplyYAML overlays the settings in a YAML document (keys = flag names)
// onto c. Unknown or repeated keys are errors. A null value leaves the
// setting unchanged; a list setting takes a YAML sequence or a
// comma-separated string.
func ApplyYAML(c *Config, data []byte) error { return applyYAML(c, data) }

func applyYAML(c *Config, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 { // empty file or only comments
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of settings", root.Line)
	}
	seen := map[string]bool{}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("line %d: keys must be plain names", k.Line))
			continue
		}
		o, ok := lookupOption(k.Value)
		if !ok {
			msg := fmt.Sprintf("line %d: unknown key %q", k.Line, k.Value)
			if k.Value == ConfigFlag {
				msg += " (a config file cannot name another)"
			} else if why, gone := removedKeys[k.Value]; gone {
				msg += " (" + why + ")"
			} else if s := suggest(k.Value); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		if seen[k.Value] {
			errs = append(errs, fmt.Errorf("line %d: key %q repeated", k.Line, k.Value))
			continue
		}
		seen[k.Value] = true
		if err := setFromNode(c, o, v); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err))
		}
	}
	return errors.Join(errs...)
}

func setFromNode(c *Config, o option, v *yaml.Node) error {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return nil
	case v.Kind == yaml.ScalarNode:
		return o.set(c, v.Value)
	case v.Kind == yaml.SequenceNode:
		p, ok := o.field(c).(*[]string)
		if !ok {
			return errors.New("a list is not allowed here")
		}
		list := []string{}
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				return fmt.Errorf("line %d: list items must be strings", item.Line)
			}
			if s := strings.TrimSpace(item.Value); s != "" {
				list = append(list, s)
			}
		}
		if len(list) == 0 {
			list = nil
		}
		*p = list
		return nil
	default:
		return errors.New("want a single value")
	}
}

// removedKeys are settings that existed once, with what replaced them: a
// configuration that still names one gets told why it fails.
var removedKeys = map[string]string{
	"write-delay": "removed: connection writers now coalesce by taking turns, with no delay to set (docs/operations.md)",
}

// suggest returns the known key closest to an unknown one, if close.
func suggest(key string) string {
	best, bestD := "", 3
	for _, o := range options {
		if d := editDistance(key, o.name); d < bestD {
			best, bestD = o.name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// WriteSample writes a YAML file listing every setting with its default
// value and usage as a comment (configs/tickroom.yaml is its output).
func WriteSample(w io.Writer) error {
	def := Default()
	var b strings.Builder
	b.WriteString("# tickroom configuration. Keys are the command-line flag names (tickroom -h).\n")
	b.WriteString("# Precedence: defaults < this file (-config) < environment (TICKROOM_<KEY>) < flags.\n")
	b.WriteString("# Every value below is the built-in default. Unknown keys are an error.\n")
	for _, o := range options {
		fmt.Fprintf(&b, "\n# %s (env %s)\n", o.usage, EnvName(o.name))
		val := yamlValue(o, &def)
		if o.name == "node" {
			fmt.Fprintf(&b, "# %s: gw-myhost\n", o.name)
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", o.name, val)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yamlValue(o option, c *Config) string {
	switch p := o.field(c).(type) {
	case *[]string:
		if len(*p) == 0 {
			return "[]"
		}
		return "[" + strings.Join(quoteAll(*p), ", ") + "]"
	case *string:
		return strconv.Quote(*p)
	}
	return o.get(c)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strconv.Quote(x)
	}
	return out
}
