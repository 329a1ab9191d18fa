package natsbus

import (
	"bytes"
	"sync"
	"testing"
)

func TestSharedSecretAgreedAcrossGateways(t *testing.T) {
	srv, b1 := newEmbedded(t)
	b2 := connectTest(t, Config{Server: srv, Logger: quietLogger()})

	// Two gateways race to create the secret; both must end up with one value.
	var (
		wg   sync.WaitGroup
		got  [2][]byte
		errs [2]error
	)
	for i, b := range []*Bus{b1, b2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = b.SharedSecret(ctxT(t), "dev-session-key", func() ([]byte, error) {
				return []byte{byte(i + 1), 2, 3}, nil
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got[0], got[1]) || len(got[0]) != 3 {
		t.Fatalf("gateways disagree: %v vs %v", got[0], got[1])
	}
	// Later calls read it and never generate again.
	again, err := b1.SharedSecret(ctxT(t), "dev-session-key", func() ([]byte, error) {
		t.Error("generated a second secret")
		return []byte("other"), nil
	})
	if err != nil || !bytes.Equal(again, got[0]) {
		t.Fatalf("second read = %v, %v; want %v", again, err, got[0])
	}
}
