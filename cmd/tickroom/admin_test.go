package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func adminGet(t *testing.T, n *Node, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", n.URL()+"/admin/api/state", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestAdminState(t *testing.T) {
	t.Run("disabled without a token", func(t *testing.T) {
		n := startNode(t, testConfig(t))
		if code, _ := adminGet(t, n, "anything"); code != http.StatusNotFound {
			t.Fatalf("admin API without -admin-token = %d, want 404", code)
		}
	})

	cfg := testConfig(t)
	cfg.AdminToken = "s3cret-admin-token"
	n := startNode(t, cfg)
	if code, _ := adminGet(t, n, ""); code != http.StatusUnauthorized {
		t.Fatalf("admin API without credentials = %d, want 401", code)
	}
	if code, _ := adminGet(t, n, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("admin API with a wrong token = %d, want 401", code)
	}

	c := dial(t, n, "ana", dialOpts{})
	c.welcome()
	c.subscribe("chat.lobby")
	c.publish("chat.lobby", "hello operators", "a-1")

	code, body := adminGet(t, n, cfg.AdminToken)
	if code != http.StatusOK {
		t.Fatalf("admin API = %d: %s", code, body)
	}
	var st struct {
		NATSReady   bool `json:"nats_ready"`
		Connections []struct {
			User          string   `json:"user"`
			IP            string   `json:"ip"`
			Subscriptions []string `json:"subscriptions"`
		} `json:"connections"`
		Channels []struct {
			Pattern     string `json:"pattern"`
			Subscribers int    `json:"subscribers"`
			Events      int64  `json:"events"`
		} `json:"channels"`
		Producers []struct {
			Kind   string `json:"kind"`
			Events int64  `json:"events"`
		} `json:"producers"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("admin state is not JSON: %v\n%s", err, body)
	}
	if !st.NATSReady || len(st.Connections) != 1 || st.Connections[0].IP == "" ||
		strings.Join(st.Connections[0].Subscriptions, ",") != "chat.lobby" {
		t.Fatalf("admin state connections = %+v (nats ready %v)", st.Connections, st.NATSReady)
	}
	var lobby bool
	for _, ch := range st.Channels {
		lobby = lobby || (ch.Pattern == "chat.lobby" && ch.Subscribers == 1 && ch.Events >= 1)
	}
	if !lobby {
		t.Fatalf("admin state channels = %+v, want chat.lobby with 1 subscriber and its event", st.Channels)
	}
	if code, page := httpGet(t, n.URL()+"/admin"); code != http.StatusOK || !strings.Contains(string(page), "operator") {
		t.Fatalf("GET /admin = %d", code)
	}
}
