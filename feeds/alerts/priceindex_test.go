package alerts

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/tickroom/tickroom/internal/protocol"
)

func above(sym string, at float64) protocol.PriceAlert {
	return protocol.PriceAlert{Symbol: sym, Above: &at}
}

func below(sym string, at float64) protocol.PriceAlert {
	return protocol.PriceAlert{Symbol: sym, Below: &at}
}

func crossedSorted(x *priceIndex, sym string, price float64) []string {
	got := x.crossed(sym, price, nil)
	slices.Sort(got)
	return got
}

func TestPriceIndexPriceAlertCrossing(t *testing.T) {
	x := newPriceIndex()
	x.add("a100", above("AAPL", 100))
	x.add("a110", above("AAPL", 110))
	x.add("b90", below("AAPL", 90))
	x.add("b80", below("AAPL", 80))
	x.add("m100", above("MSFT", 100))

	if got := crossedSorted(x, "AAPL", 95); len(got) != 0 {
		t.Fatalf("95 between the levels crossed %v", got)
	}
	if got := crossedSorted(x, "AAPL", 100); !slices.Equal(got, []string{"a100"}) {
		t.Fatalf("100 (at the level) crossed %v, want [a100]", got)
	}
	if got := crossedSorted(x, "AAPL", 100); len(got) != 0 {
		t.Fatalf("a crossed alert crossed again: %v", got)
	}
	if got := crossedSorted(x, "AAPL", 85); !slices.Equal(got, []string{"b90"}) {
		t.Fatalf("85 crossed %v, want [b90]", got)
	}
	if got := crossedSorted(x, "AAPL", 200); !slices.Equal(got, []string{"a110"}) {
		t.Fatalf("200 crossed %v, want [a110]", got)
	}
	if got := crossedSorted(x, "AAPL", 1); !slices.Equal(got, []string{"b80"}) {
		t.Fatalf("1 crossed %v, want [b80]", got)
	}
	if got := crossedSorted(x, "NOPE", 1); len(got) != 0 {
		t.Fatalf("unknown symbol crossed %v", got)
	}
	if x.Len() != 1 {
		t.Fatalf("Len %d, want 1 (MSFT)", x.Len())
	}
	if got := crossedSorted(x, "MSFT", 101); !slices.Equal(got, []string{"m100"}) {
		t.Fatalf("MSFT 101 crossed %v", got)
	}
	if x.Len() != 0 || len(x.syms) != 0 {
		t.Fatalf("empty index holds %d alerts, %d symbols", x.Len(), len(x.syms))
	}
}

func TestPriceIndexPriceAlertEqualLevels(t *testing.T) {
	x := newPriceIndex()
	for i := 0; i < 5; i++ {
		x.add(fmt.Sprint("up", i), above("AAPL", 50))
		x.add(fmt.Sprint("dn", i), below("AAPL", 40))
	}
	// Removing one of equal levels removes that one only.
	if !x.remove("up2") || !x.remove("dn0") || x.remove("up2") {
		t.Fatal("remove of equal levels")
	}
	if got := crossedSorted(x, "AAPL", 49.99); len(got) != 0 {
		t.Fatalf("49.99 crossed %v", got)
	}
	if got := crossedSorted(x, "AAPL", 50); !slices.Equal(got, []string{"up0", "up1", "up3", "up4"}) {
		t.Fatalf("50 crossed %v", got)
	}
	if got := crossedSorted(x, "AAPL", 40); !slices.Equal(got, []string{"dn1", "dn2", "dn3", "dn4"}) {
		t.Fatalf("40 crossed %v", got)
	}
}

func TestPriceIndexPriceAlertRemoveAndReplace(t *testing.T) {
	x := newPriceIndex()
	x.add("k", above("AAPL", 100))
	x.add("k", below("AAPL", 90)) // an update of the key replaces it
	if x.Len() != 1 {
		t.Fatalf("Len %d after replace", x.Len())
	}
	if got := crossedSorted(x, "AAPL", 150); len(got) != 0 {
		t.Fatalf("the replaced above-level crossed: %v", got)
	}
	x.add("gone", above("AAPL", 100))
	if !x.remove("gone") {
		t.Fatal("remove reported absent")
	}
	if got := crossedSorted(x, "AAPL", 150); len(got) != 0 {
		t.Fatalf("a removed alert crossed: %v", got)
	}
	x.add("none", protocol.PriceAlert{Symbol: "AAPL"}) // no level: never crosses
	if x.remove("none") {
		t.Fatal("an alert without level was indexed")
	}
	if got := crossedSorted(x, "AAPL", 90); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("90 crossed %v, want [k]", got)
	}
}

// The index agrees with protocol.PriceAlert.Crossed on random levels,
// removals and prices.
func TestPriceIndexPriceAlertMatchesCrossed(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	x := newPriceIndex()
	live := map[string]protocol.PriceAlert{}
	for step := 0; step < 5000; step++ {
		switch r := rng.Intn(10); {
		case r < 5:
			key := fmt.Sprint("k", rng.Intn(300))
			lv := float64(rng.Intn(40)) // few distinct levels: many equal ones
			a := above("S", lv)
			if rng.Intn(2) == 0 {
				a = below("S", lv)
			}
			x.add(key, a)
			live[key] = a
		case r < 7:
			key := fmt.Sprint("k", rng.Intn(300))
			_, was := live[key]
			if x.remove(key) != was {
				t.Fatalf("step %d: remove(%s) disagrees", step, key)
			}
			delete(live, key)
		default:
			p := float64(rng.Intn(40)) + float64(rng.Intn(3))*0.5
			var want []string
			for k, a := range live {
				if a.Crossed(p) {
					want = append(want, k)
					delete(live, k)
				}
			}
			slices.Sort(want)
			if got := crossedSorted(x, "S", p); !slices.Equal(got, want) {
				t.Fatalf("step %d: price %v crossed %v, want %v", step, p, got, want)
			}
		}
		if x.Len() != len(live) {
			t.Fatalf("step %d: Len %d, want %d", step, x.Len(), len(live))
		}
	}
}
