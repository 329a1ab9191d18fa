package natsbus

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestBucketCompareAndSet(t *testing.T) {
	_, b := newEmbedded(t)
	ctx := ctxT(t)
	k, err := b.Bucket(ctx, "test_bucket")
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := b.Bucket(ctx, "test_bucket"); k2 != k {
		t.Error("a second Bucket call opened another handle")
	}
	if _, err := k.Get(ctx, "a.1"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Get of nothing: %v, want ErrKeyNotFound", err)
	}
	rev, err := k.Create(ctx, "a.1", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Create(ctx, "a.1", []byte("again")); !errors.Is(err, ErrKeyExists) {
		t.Errorf("second Create: %v, want ErrKeyExists", err)
	}
	rev2, err := k.Update(ctx, "a.1", []byte("two"), rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Update(ctx, "a.1", []byte("stale"), rev); !errors.Is(err, ErrRevision) {
		t.Errorf("Update with a stale revision: %v, want ErrRevision", err)
	}
	if err := k.Delete(ctx, "a.1", rev); !errors.Is(err, ErrRevision) {
		t.Errorf("Delete with a stale revision: %v, want ErrRevision", err)
	}
	if _, err := k.Put(ctx, "a.2", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Put(ctx, "b.1", []byte("y")); err != nil {
		t.Fatal(err)
	}
	keys, err := k.Keys(ctx, "a.*")
	sort.Strings(keys)
	if err != nil || strings.Join(keys, ",") != "a.1,a.2" {
		t.Errorf("Keys(a.*) = %v, %v", keys, err)
	}
	if err := k.Delete(ctx, "a.1", rev2); err != nil {
		t.Errorf("Delete with the current revision: %v", err)
	}
	if _, err := k.Get(ctx, "a.1"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}

	// Watch: the current values, synced, then changes; ends with ctx.
	wctx, cancel := context.WithCancel(ctx)
	got := make(chan Entry, 16)
	synced := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- k.Watch(wctx, ">", func(e Entry) { got <- e }, func() { close(synced) }) }()
	select {
	case <-synced:
	case <-time.After(5 * time.Second):
		t.Fatal("watch never synced")
	}
	seen := map[string]bool{}
	for len(got) > 0 {
		e := <-got
		seen[e.Key] = !e.Deleted
	}
	if !seen["a.2"] || !seen["b.1"] {
		t.Errorf("initial watch values %v", seen)
	}
	if _, err := k.Put(ctx, "c.1", []byte("z")); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.Key != "c.1" || string(e.Value) != "z" {
			t.Errorf("watch update %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no watch update")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v after ctx ended, want nil", err)
	}
}

func TestStoredAndCountAfter(t *testing.T) {
	_, b := newEmbedded(t)
	ctx := ctxT(t)
	s1, _, err := b.PublishStamped(ctx, "chat.lobby", "", []byte(`{"user":"a","text":"1"}`), "", "stamp-1")
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, b, "chat.other", `{"user":"a","text":"x"}`, "")
	s3, _, _ := b.PublishStamped(ctx, "chat.lobby", "edit", []byte(`{"ref_seq":1}`), "", "")
	m, err := b.Stored(ctx, "chat.lobby", s1)
	if err != nil || m.Stamp != "stamp-1" || m.Event != "" || m.Time.IsZero() {
		t.Errorf("Stored = %+v, %v", m, err)
	}
	if m, _ := b.Stored(ctx, "chat.lobby", s3); m.Event != "edit" || m.Stamp != "" {
		t.Errorf("Stored edit = %+v", m)
	}
	if _, err := b.Stored(ctx, "chat.lobby", s1+1); !errors.Is(err, ErrNoMessage) {
		t.Errorf("Stored of another subject's seq: %v, want ErrNoMessage", err)
	}
	if n, last, err := b.CountAfter(ctx, "chat.lobby", 0); n != 2 || last != s3 || err != nil {
		t.Errorf("CountAfter(0) = %d, %d, %v; want 2, %d", n, last, err, s3)
	}
	if n, _, _ := b.CountAfter(ctx, "chat.lobby", s1); n != 1 {
		t.Errorf("CountAfter(s1) = %d, want 1", n)
	}
	if n, last, _ := b.CountAfter(ctx, "chat.none", 0); n != 0 || last != 0 {
		t.Errorf("CountAfter of an empty room = %d, %d", n, last)
	}
	subs, err := b.Subjects(ctx, "chat.>")
	if err != nil || subs["chat.lobby"] != 2 || subs["chat.other"] != 1 {
		t.Errorf("Subjects = %v, %v", subs, err)
	}
}
