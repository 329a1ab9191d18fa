package protocol

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidateDeskPayloads(t *testing.T) {
	levels := func(n int, start, step float64) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("[%g,100]", start+float64(i)*step)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	tests := []struct {
		name    string
		subject string
		data    string
		ok      bool
	}{
		// ref
		{"ref contract example", "ref.EURUSD", `{"symbol":"EURUSD","name":"Euro / US Dollar","asset_class":"fx","currency":"USD","tick_size":0.00001,"price_decimals":5}`, true},
		{"ref minimal", "ref.AAPL", `{"symbol":"AAPL","tick_size":0.01,"price_decimals":2}`, true},
		{"ref zero decimals", "ref.N225", `{"symbol":"N225","tick_size":5,"price_decimals":0}`, true},
		{"ref ten decimals", "ref.X", `{"symbol":"X","tick_size":1e-10,"price_decimals":10}`, true},
		{"ref unknown fields pass", "ref.AAPL", `{"symbol":"AAPL","tick_size":0.01,"price_decimals":2,"exchange":"XNAS","lot":1}`, true},
		{"ref 5.0 decimals is an integer", "ref.AAPL", `{"symbol":"AAPL","tick_size":0.01,"price_decimals":5.0}`, true},
		{"ref wrong symbol", "ref.AAPL", `{"symbol":"MSFT","tick_size":0.01,"price_decimals":2}`, false},
		{"ref no symbol", "ref.AAPL", `{"tick_size":0.01,"price_decimals":2}`, false},
		{"ref zero tick", "ref.AAPL", `{"symbol":"AAPL","tick_size":0,"price_decimals":2}`, false},
		{"ref negative tick", "ref.AAPL", `{"symbol":"AAPL","tick_size":-0.01,"price_decimals":2}`, false},
		{"ref missing tick", "ref.AAPL", `{"symbol":"AAPL","price_decimals":2}`, false},
		{"ref huge tick", "ref.AAPL", `{"symbol":"AAPL","tick_size":1e999,"price_decimals":2}`, false},
		{"ref fractional decimals", "ref.AAPL", `{"symbol":"AAPL","tick_size":0.01,"price_decimals":2.5}`, false},
		{"ref 11 decimals", "ref.AAPL", `{"symbol":"AAPL","tick_size":0.01,"price_decimals":11}`, false},
		{"ref negative decimals", "ref.AAPL", `{"symbol":"AAPL","tick_size":0.01,"price_decimals":-1}`, false},
		{"ref missing decimals", "ref.AAPL", `{"symbol":"AAPL","tick_size":0.01}`, false},
		{"ref string decimals", "ref.AAPL", `{"symbol":"AAPL","tick_size":0.01,"price_decimals":"2"}`, false},
		{"ref name number", "ref.AAPL", `{"symbol":"AAPL","name":7,"tick_size":0.01,"price_decimals":2}`, false},
		{"ref name too long", "ref.AAPL", `{"symbol":"AAPL","name":"` + strings.Repeat("n", 201) + `","tick_size":0.01,"price_decimals":2}`, false},
		{"ref array", "ref.AAPL", `[]`, false},

		// book
		{"book contract example", "book.AAPL", `{"symbol":"AAPL","time":"2026-11-26T12:00:00.123Z","bids":[[189.31,300],[189.30,1200]],"asks":[[189.33,200],[189.34,0]]}`, true},
		{"book empty sides", "book.AAPL", `{"symbol":"AAPL","bids":[],"asks":[]}`, true},
		{"book one side", "book.AAPL", `{"symbol":"AAPL","bids":[[1,1]],"asks":[]}`, true},
		{"book 50 levels", "book.AAPL", `{"symbol":"AAPL","bids":` + levels(50, 100, -0.01) + `,"asks":` + levels(50, 101, 0.01) + `}`, true},
		{"book 51 bids", "book.AAPL", `{"symbol":"AAPL","bids":` + levels(51, 100, -0.01) + `,"asks":[]}`, false},
		{"book 51 asks", "book.AAPL", `{"symbol":"AAPL","bids":[],"asks":` + levels(51, 101, 0.01) + `}`, false},
		{"book bids ascending", "book.AAPL", `{"symbol":"AAPL","bids":[[1,1],[2,1]],"asks":[[3,1]]}`, false},
		{"book bids equal", "book.AAPL", `{"symbol":"AAPL","bids":[[2,1],[2,1]],"asks":[[3,1]]}`, false},
		{"book asks descending", "book.AAPL", `{"symbol":"AAPL","bids":[[1,1]],"asks":[[4,1],[3,1]]}`, false},
		{"book crossed", "book.AAPL", `{"symbol":"AAPL","bids":[[3,1]],"asks":[[3,1]]}`, false},
		{"book zero price", "book.AAPL", `{"symbol":"AAPL","bids":[[0,1]],"asks":[]}`, false},
		{"book negative size", "book.AAPL", `{"symbol":"AAPL","bids":[[1,-1]],"asks":[]}`, false},
		{"book level of three", "book.AAPL", `{"symbol":"AAPL","bids":[[1,1,1]],"asks":[]}`, false},
		{"book level of one", "book.AAPL", `{"symbol":"AAPL","bids":[[1]],"asks":[]}`, false},
		{"book level strings", "book.AAPL", `{"symbol":"AAPL","bids":[["1","1"]],"asks":[]}`, false},
		{"book missing asks", "book.AAPL", `{"symbol":"AAPL","bids":[[1,1]]}`, false},
		{"book wrong symbol", "book.AAPL", `{"symbol":"MSFT","bids":[],"asks":[]}`, false},
		{"book bad time", "book.AAPL", `{"symbol":"AAPL","bids":[],"asks":[],"time":"soon"}`, false},

		// tick sizes
		{"market sizes", "market.AAPL", `{"symbol":"AAPL","price":1,"bid":0.99,"ask":1.01,"bid_size":300,"ask_size":0}`, true},
		{"market negative bid_size", "market.AAPL", `{"symbol":"AAPL","price":1,"bid_size":-1}`, false},
		{"market negative ask_size", "market.AAPL", `{"symbol":"AAPL","price":1,"ask_size":-0.5}`, false},
		{"market string ask_size", "market.AAPL", `{"symbol":"AAPL","price":1,"ask_size":"5"}`, false},
		{"market huge bid_size", "market.AAPL", `{"symbol":"AAPL","price":1,"bid_size":1e999}`, false},
	}
	for _, tt := range tests {
		_, err := ValidatePayload(tt.subject, []byte(tt.data))
		if tt.ok && err != nil {
			t.Errorf("%s: rejected: %v", tt.name, err)
		}
		if !tt.ok {
			if err == nil {
				t.Errorf("%s: accepted %s", tt.name, tt.data)
			} else if !errors.Is(err, ErrPayload) {
				t.Errorf("%s: error %v does not wrap ErrPayload", tt.name, err)
			}
		}
	}
}

func TestRefAndBookChannels(t *testing.T) {
	for _, ch := range []string{"ref.EURUSD", "book.AAPL", "ref.*", "book.>"} {
		if err := ValidateChannel(ch, true); err != nil {
			t.Errorf("%s: %v", ch, err)
		}
	}
}

func FuzzDeskPayloads(f *testing.F) {
	for _, s := range []string{
		`{"symbol":"EURUSD","name":"Euro / US Dollar","asset_class":"fx","currency":"USD","tick_size":0.00001,"price_decimals":5}`,
		`{"symbol":"AAPL","tick_size":0.01,"price_decimals":2.5}`,
		`{"symbol":"AAPL","bids":[[189.31,300],[189.30,1200]],"asks":[[189.33,200]]}`,
		`{"symbol":"AAPL","bids":[[1,1,1]],"asks":[[1e999,1]]}`,
		`{"symbol":"AAPL","price":1,"bid_size":-1}`,
		`[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, subj := range []string{"ref.AAPL", "book.AAPL", "market.AAPL"} {
			_, err := ValidatePayload(subj, data)
			if err != nil && !errors.Is(err, ErrPayload) {
				t.Fatalf("%s: %v does not wrap ErrPayload", subj, err)
			}
		}
	})
}
