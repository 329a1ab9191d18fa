package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverCmd starts a fresh server under test for every measurement: the
// -server command line, split on spaces after {data} (a new empty
// directory) and {port} (the -url port) are filled in. Prefix it with
// taskset to pin it; taskset execs the server, so the child's pid is the
// server's and /proc/<pid>/stat measures it.
type serverCmd struct {
	line  string // the template
	ready string // URL polled until it answers 2xx; "" waits for a TCP accept
	addr  string // host:port of -url
	log   io.Writer
}

func newServerCmd(o *options, log io.Writer) (*serverCmd, error) {
	if o.server == "" {
		return nil, nil
	}
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	if u.Port() == "" {
		return nil, errors.New("-server needs a -url with a port")
	}
	ready := o.ready
	if ready == "" {
		ready = map[string]string{"tickroom": "/readyz", "centrifugo": "/health"}[o.target]
	}
	if ready != "" && strings.HasPrefix(ready, "/") {
		ready = "http://" + u.Host + ready
	}
	return &serverCmd{line: o.server, ready: ready, addr: u.Host, log: log}, nil
}

// running is one started server.
type running struct {
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	out  *tailBuffer
}

func (s *serverCmd) start(ctx context.Context) (*running, error) {
	dir, err := os.MkdirTemp("", "tickbench-server-")
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(s.addr)
	line := strings.NewReplacer("{data}", dir, "{port}", port).Replace(s.line)
	args := strings.Fields(line)
	if len(args) == 0 {
		os.RemoveAll(dir)
		return nil, errors.New("-server: empty command")
	}
	// Wait until the previous server's port is free.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err != nil {
			break
		} else {
			c.Close()
		}
	}
	cmd := exec.Command(args[0], args[1:]...) // in tickbench's directory, so relative paths work
	out := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("-server: %w", err)
	}
	r := &running{cmd: cmd, dir: dir, done: make(chan struct{}), out: out}
	go func() { _ = cmd.Wait(); close(r.done) }()
	if err := s.waitReady(ctx, r); err != nil {
		r.stop()
		return nil, fmt.Errorf("-server %q: %w; output: %s", line, err, out.String())
	}
	return r, nil
}

func (s *serverCmd) waitReady(ctx context.Context, r *running) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.done:
			return errors.New("exited before it was ready")
		case <-time.After(100 * time.Millisecond):
		}
		if s.ready == "" {
			if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
				c.Close()
				return nil
			}
			continue
		}
		resp, err := client.Get(s.ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
	}
	return fmt.Errorf("not ready after 30s (%s)", s.ready)
}

func (r *running) pid() int { return r.cmd.Process.Pid }

// stop sends SIGTERM to the server's process group, SIGKILL after 10 s,
// and removes its data directory.
func (r *running) stop() {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
	os.RemoveAll(r.dir)
}

// tailBuffer keeps the last max bytes written (the server's output, for
// an error message); exec's copying goroutines write to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
