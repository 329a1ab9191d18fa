// Package helm holds the test of the tickroom Helm chart. It is a Go module
// of its own so that Helm and the Kubernetes API types stay out of the
// product's go.mod; .ci/run runs it with (cd configs/helm && go test ./...).
package helm

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const chartDir = "tickroom"

// objects is a rendered chart decoded into the Kubernetes API types.
type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	pdbs        map[string]*policyv1.PodDisruptionBudget
}

// decodeStrict decodes one manifest into its API type; an unknown field,
// a duplicate field or an unknown kind is an error.
func decodeStrict(doc string, into *objects) error {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
		return err
	}
	var obj any
	switch meta.APIVersion + "/" + meta.Kind {
	case "apps/v1/Deployment":
		d := &appsv1.Deployment{}
		obj, into.deployments[meta.Metadata.Name] = d, d
	case "v1/Service":
		s := &corev1.Service{}
		obj, into.services[meta.Metadata.Name] = s, s
	case "policy/v1/PodDisruptionBudget":
		p := &policyv1.PodDisruptionBudget{}
		obj, into.pdbs[meta.Metadata.Name] = p, p
	default:
		return fmt.Errorf("kind %s/%s: not one the test knows (add it to decodeStrict)", meta.APIVersion, meta.Kind)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		return fmt.Errorf("%s %s: %w", meta.Kind, meta.Metadata.Name, err)
	}
	return nil
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return c
}

// render renders the chart as `helm install tr ./tickroom -n trading` would,
// with overrides on top of values.yaml, and decodes every object.
func render(t *testing.T, c *chart.Chart, overrides map[string]any) *objects {
	t.Helper()
	// The Kubernetes the objects are decoded for: k8s.io/api v0.37 is
	// Kubernetes 1.37 (the SDK's default capabilities say 1.20).
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1.37.0", Major: "1", Minor: "37"}
	if !chartutil.IsCompatibleRange(c.Metadata.KubeVersion, caps.KubeVersion.String()) {
		t.Fatalf("chart kubeVersion %q excludes the SDK's Kubernetes %s", c.Metadata.KubeVersion, caps.KubeVersion)
	}
	vals, err := chartutil.ToRenderValues(c, overrides, chartutil.ReleaseOptions{
		Name: "tr", Namespace: "trading", Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	files, err := engine.Render(c, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	out := &objects{
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
		pdbs:        map[string]*policyv1.PodDisruptionBudget{},
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for _, doc := range releaseutil.SplitManifests(files[name]) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			if err := decodeStrict(doc, out); err != nil {
				t.Errorf("%s: %v\n%s", name, err, doc)
			}
		}
	}
	return out
}

func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	into := &objects{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{}, pdbs: map[string]*policyv1.PodDisruptionBudget{}}
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {porst: []}\n",
		"wrong type":    "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {selector: 3}\n",
		"unknown kind":  "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
		"duplicate":     "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: ClusterIP, type: NodePort}\n",
	} {
		if err := decodeStrict(doc, into); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// drainSeconds is the gateway's 1001 drain bound: the Shutdown timeout in
// cmd/tickroom/run.go.
func drainSeconds(t *testing.T) int {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "cmd", "tickroom", "run.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`WithTimeout\(context\.Background\(\), (\d+) ?\* ?time\.Second\)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("cmd/tickroom/run.go: no shutdown timeout found; update this test and gateway.drainSeconds together")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// measuredKiBPerConnection is the largest idle RSS per connection that
// docs/benchmarks.md reports.
func measuredKiBPerConnection(t *testing.T) float64 {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	num := regexp.MustCompile(`(\d+(?:\.\d+)?) KiB`)
	best := 0.0
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.Contains(line, "RSS per connection") || !strings.HasPrefix(line, "| idle") {
			continue
		}
		for _, m := range num.FindAllStringSubmatch(line, -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			best = math.Max(best, v)
		}
	}
	if best == 0 {
		t.Fatal("docs/benchmarks.md: no idle 'RSS per connection' row with a KiB figure")
	}
	return best
}

func values(t *testing.T, c *chart.Chart, path string) any {
	t.Helper()
	v, err := chartutil.Values(c.Values).PathValue(path)
	if err != nil {
		t.Fatalf("values %s: %v", path, err)
	}
	return v
}

func intValue(t *testing.T, c *chart.Chart, path string) int64 {
	t.Helper()
	switch v := values(t, c, path).(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	default:
		t.Fatalf("values %s: %T, want a number", path, v)
		return 0
	}
}

func envNames(c corev1.Container) map[string]bool {
	names := map[string]bool{}
	for _, e := range c.Env {
		names[e.Name] = true
	}
	return names
}

// refsDefined checks that every $(VAR) Kubernetes would expand in s is
// defined in the container's env (an undefined one stays literal).
func refsDefined(t *testing.T, what, s string, c corev1.Container) {
	t.Helper()
	env := envNames(c)
	for _, m := range regexp.MustCompile(`\$\(([A-Z0-9_]+)\)`).FindAllStringSubmatch(s, -1) {
		if !env[m[1]] {
			t.Errorf("%s: $(%s) is not in the container's env, so Kubernetes would not expand it", what, m[1])
		}
	}
}

func TestChartRendersKubernetesObjects(t *testing.T) {
	c := loadChart(t)
	objs := render(t, c, nil)

	gw := objs.deployments["tr-tickroom-gateway"]
	if gw == nil {
		t.Fatalf("no gateway Deployment; have %v", keys(objs.deployments))
	}
	pod := gw.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("gateway pod has %d containers, want 1", len(pod.Spec.Containers))
	}
	ctr := pod.Spec.Containers[0]
	if got := strings.Join(ctr.Args, " "); got != "gateway" {
		t.Errorf("gateway args %q, want gateway", got)
	}

	// Probes: readiness on /readyz, liveness on /healthz, on the
	// container's http port.
	port := intValue(t, c, "gateway.port")
	if len(ctr.Ports) != 1 || ctr.Ports[0].Name != "http" || int64(ctr.Ports[0].ContainerPort) != port {
		t.Errorf("gateway ports %+v, want one named http on %d", ctr.Ports, port)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": ctr.ReadinessProbe, "liveness": ctr.LivenessProbe} {
		want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[name]
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v, want GET %s on port http", name, p, want)
		}
	}

	// Termination: preStop sleeps, then the 1001 drain; the grace covers
	// both.
	drain := drainSeconds(t)
	if v := intValue(t, c, "gateway.drainSeconds"); v != int64(drain) {
		t.Errorf("values gateway.drainSeconds = %d, but the gateway drains for %ds (cmd/tickroom/run.go)", v, drain)
	}
	if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil || ctr.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("gateway has no preStop sleep: %+v", ctr.Lifecycle)
	}
	preStop := ctr.Lifecycle.PreStop.Sleep.Seconds
	if preStop < 1 {
		t.Errorf("preStop sleeps %ds: the endpoint needs time to leave the Services before the drain", preStop)
	}
	grace := pod.Spec.TerminationGracePeriodSeconds
	if grace == nil || *grace <= preStop+int64(drain) {
		t.Errorf("terminationGracePeriodSeconds %v, want more than preStop %ds + drain %ds", grace, preStop, drain)
	}
	if s := gw.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable == nil || s.MaxUnavailable.IntValue() != 0 {
		t.Errorf("gateway rolling update %+v: want maxUnavailable 0 (a new gateway is ready before one drains)", s)
	}

	// Memory request: base + max-conns × per-connection memory, where the
	// per-connection figure is at least the largest measured one.
	perConn := intValue(t, c, "gateway.memoryPerConnectionKiB")
	if measured := measuredKiBPerConnection(t); float64(perConn) < measured {
		t.Errorf("gateway.memoryPerConnectionKiB = %d, below the measured %.1f KiB (docs/benchmarks.md)", perConn, measured)
	}
	maxConns := intValue(t, c, "gateway.maxConnections")
	wantMiB := intValue(t, c, "gateway.baseMemoryMiB") + maxConns*perConn/1024
	req := ctr.Resources.Requests[corev1.ResourceMemory]
	if want := resource.MustParse(fmt.Sprintf("%dMi", wantMiB)); req.Cmp(want) != 0 {
		t.Errorf("gateway memory request %s, want %s", req.String(), want.String())
	}
	if lim := ctr.Resources.Limits[corev1.ResourceMemory]; lim.Cmp(req) < 0 {
		t.Errorf("gateway memory limit %s below its request %s", lim.String(), req.String())
	}
	if _, ok := ctr.Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Error("gateway has no CPU request")
	}

	// Environment: max-conns matches the memory sizing; NATS URLs carry
	// the password by reference.
	env := map[string]corev1.EnvVar{}
	for _, e := range ctr.Env {
		env[e.Name] = e
	}
	if v := env["TICKROOM_MAX_CONNS"].Value; v != strconv.FormatInt(maxConns, 10) {
		t.Errorf("TICKROOM_MAX_CONNS %q, want %d", v, maxConns)
	}
	if e := env["TICKROOM_NODE"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("TICKROOM_NODE %+v: want the pod name (unique per gateway)", e)
	}
	natsURL := env["TICKROOM_NATS"].Value
	if !strings.HasPrefix(natsURL, "nats://gateway:$(TICKROOM_NATS_GATEWAY_PASSWORD)@") {
		t.Errorf("TICKROOM_NATS %q: want the gateway user with the password from env", natsURL)
	}
	refsDefined(t, "gateway TICKROOM_NATS", natsURL, ctr)

	// PodDisruptionBudget and Service select exactly the gateway pods.
	podLabels := labels.Set(pod.Labels)
	pdb := objs.pdbs["tr-tickroom-gateway"]
	if pdb == nil || pdb.Spec.Selector == nil || pdb.Spec.MaxUnavailable == nil {
		t.Fatalf("gateway PodDisruptionBudget %+v: want one with a selector and maxUnavailable", pdb)
	}
	if !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Errorf("PDB selector %v does not select the gateway pods %v", pdb.Spec.Selector.MatchLabels, pod.Labels)
	}
	svc := objs.services["tr-tickroom-gateway"]
	if svc == nil || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Fatalf("gateway Service %+v does not select the gateway pods", svc)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v, want one targeting http", svc.Spec.Ports)
	}

	// One Deployment per feed, as the feed user; none is selected by the
	// gateway Service or PDB.
	feeds, _ := values(t, c, "feeds").([]any)
	if len(feeds) == 0 {
		t.Fatal("values feeds: none")
	}
	for _, f := range feeds {
		name := f.(map[string]any)["name"].(string)
		d := objs.deployments["tr-tickroom-feed-"+name]
		if d == nil {
			t.Errorf("no Deployment for feed %s; have %v", name, keys(objs.deployments))
			continue
		}
		fc := d.Spec.Template.Spec.Containers[0]
		if len(fc.Args) != 4 || fc.Args[0] != "feed" || fc.Args[1] != name || fc.Args[2] != "-nats" ||
			!strings.HasPrefix(fc.Args[3], "nats://feed:$(TICKROOM_NATS_FEED_PASSWORD)@") {
			t.Errorf("feed %s args %q", name, fc.Args)
		}
		refsDefined(t, "feed "+name, fc.Args[3], fc)
		if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("the gateway Service selects feed %s's pods", name)
		}
	}
}

// Non-default values render valid objects too.
func TestChartWithOverrides(t *testing.T) {
	c := loadChart(t)
	objs := render(t, c, map[string]any{
		"nats": map[string]any{"hosts": []any{"nats-0.nats-headless:4222", "nats-1.nats-headless:4222"}},
		"gateway": map[string]any{
			"replicas": 4, "origins": "https://desk.example", "trustedProxies": "10.0.0.0/8",
			"maxConnections": 5000,
			"extraEnv":       []any{map[string]any{"name": "TICKROOM_JWT_ISSUER", "value": "https://idp.example"}},
		},
		"nodeSelector": map[string]any{"pool": "gateways"},
		"feeds":        []any{map[string]any{"name": "market", "replicas": 2}},
	})
	gw := objs.deployments["tr-tickroom-gateway"]
	if gw == nil || *gw.Spec.Replicas != 4 {
		t.Fatalf("gateway %+v, want 4 replicas", gw)
	}
	ctr := gw.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	if env["TICKROOM_ORIGINS"] != "https://desk.example" || env["TICKROOM_TRUSTED_PROXIES"] != "10.0.0.0/8" || env["TICKROOM_JWT_ISSUER"] != "https://idp.example" {
		t.Errorf("gateway env %v", env)
	}
	if n := strings.Count(env["TICKROOM_NATS"], "nats://"); n != 2 {
		t.Errorf("TICKROOM_NATS %q: want 2 URLs", env["TICKROOM_NATS"])
	}
	if req := ctr.Resources.Requests[corev1.ResourceMemory]; req.Cmp(resource.MustParse(fmt.Sprintf("%dMi", 64+5000*21/1024))) != 0 {
		t.Errorf("memory request %s for 5000 connections", req.String())
	}
	if len(objs.deployments) != 2 {
		t.Errorf("deployments %v, want the gateway and one feed", keys(objs.deployments))
	}
}

// nats-values.yaml (for the official NATS chart) and the tickroom chart
// agree: the Secret and its keys, the two users, JetStream on a cluster as
// large as the stream replicas.
func TestNATSValuesMatchChart(t *testing.T) {
	c := loadChart(t)
	raw, err := os.ReadFile("nats-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var nv struct {
		Config struct {
			Cluster struct {
				Enabled  bool  `json:"enabled"`
				Replicas int64 `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled   bool `json:"enabled"`
				FileStore struct {
					Enabled bool `json:"enabled"`
				} `json:"fileStore"`
			} `json:"jetstream"`
			Merge struct {
				Authorization struct {
					Users []struct {
						User     string `json:"user"`
						Password string `json:"password"`
					} `json:"users"`
				} `json:"authorization"`
			} `json:"merge"`
		} `json:"config"`
		Container struct {
			Env map[string]corev1.EnvVarSource `json:"-"`
			Raw map[string]struct {
				ValueFrom corev1.EnvVarSource `json:"valueFrom"`
			} `json:"env"`
		} `json:"container"`
	}
	if err := yaml.Unmarshal(raw, &nv); err != nil {
		t.Fatalf("nats-values.yaml: %v", err)
	}
	cfg := nv.Config
	if !cfg.Cluster.Enabled || !cfg.JetStream.Enabled || !cfg.JetStream.FileStore.Enabled {
		t.Errorf("nats-values.yaml: want cluster and JetStream on disk: %+v", cfg)
	}
	if r := intValue(t, c, "gateway.streamReplicas"); cfg.Cluster.Replicas < r {
		t.Errorf("NATS cluster of %d for streams of %d replicas", cfg.Cluster.Replicas, r)
	}
	secret := values(t, c, "nats.existingSecret").(string)
	wantKey := map[string]string{
		"gateway": values(t, c, "nats.gatewayPasswordKey").(string),
		"feed":    values(t, c, "nats.feedPasswordKey").(string),
	}
	wantVar := map[string]string{"gateway": "TICKROOM_NATS_GATEWAY_PASSWORD", "feed": "TICKROOM_NATS_FEED_PASSWORD"}
	seen := map[string]bool{}
	for _, u := range cfg.Merge.Authorization.Users {
		seen[u.User] = true
		v, ok := wantVar[u.User]
		if !ok {
			t.Errorf("nats-values.yaml: unexpected user %q", u.User)
			continue
		}
		if u.Password != "<< $"+v+" >>" {
			t.Errorf("user %s password %q, want << $%s >> (from the Secret)", u.User, u.Password, v)
		}
		ref := nv.Container.Raw[v].ValueFrom.SecretKeyRef
		if ref == nil || ref.Name != secret || ref.Key != wantKey[u.User] {
			t.Errorf("nats-values.yaml container.env %s = %+v, want Secret %s key %s", v, ref, secret, wantKey[u.User])
		}
	}
	for u := range wantVar {
		if !seen[u] {
			t.Errorf("nats-values.yaml: no user %q", u)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
