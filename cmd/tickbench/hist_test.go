package main

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBucketRoundTrip(t *testing.T) {
	// Every value lands in a bucket whose bounds hold it, buckets are
	// contiguous and ordered, and a bucket is at most 1/64 of its value wide.
	prevHi := int64(-1)
	for i := range histBuckets {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if hi < lo {
			t.Fatalf("bucket %d: [%d,%d]", i, lo, hi)
		}
		if lo >= 128 && float64(hi-lo+1) > float64(lo)/64+1 {
			t.Fatalf("bucket %d: [%d,%d] wider than 1/64", i, lo, hi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: bounds [%d,%d] map to %d,%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
		if hi == 1<<63-1 {
			if i != histBuckets-1 {
				t.Fatalf("max int64 in bucket %d of %d", i, histBuckets)
			}
			return
		}
	}
	t.Fatalf("buckets end at %d, before max int64", prevHi)
}

func TestQuantilesExact(t *testing.T) {
	var h Hist
	for v := int64(1); v <= 100; v++ { // small values have exact buckets
		h.Record(v)
	}
	s := h.Snapshot()
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.01, 1}, {0.5, 50}, {0.9, 90}, {0.99, 99}, {0.999, 100}, {1, 100}} {
		if got := s.Quantile(c.q); got != c.want {
			t.Errorf("q%.3f = %d, want %d", c.q, got, c.want)
		}
	}
	if s.N != 100 || s.Max != 100 || s.Mean() != 50.5 {
		t.Errorf("n %d max %d mean %v", s.N, s.Max, s.Mean())
	}
}

func TestQuantilesWithinPrecision(t *testing.T) {
	// Log-normal-ish latencies from 10µs to seconds, in nanoseconds.
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 200000)
	var h Hist
	for i := range vals {
		v := int64(10_000 * (1 + r.ExpFloat64()*r.ExpFloat64()*1000))
		vals[i] = v
		h.Record(v)
	}
	slices.Sort(vals)
	s := h.Snapshot()
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals))+0.999999)-1]
		got := s.Quantile(q)
		if got < exact || float64(got) > float64(exact)*(1+1.0/64)+1 {
			t.Errorf("q%v = %d, exact %d: outside [exact, exact·(1+1/64)]", q, got, exact)
		}
	}
	if s.Max != vals[len(vals)-1] || s.Quantile(1) != s.Max {
		t.Errorf("max %d q1 %d, want %d", s.Max, s.Quantile(1), vals[len(vals)-1])
	}
}

func TestHistEdges(t *testing.T) {
	var h Hist
	if h.Snapshot().Quantile(0.99) != 0 || h.Snapshot().Summary() != nil {
		t.Fatal("empty histogram should report nothing")
	}
	h.Record(-5) // clock skew: counts as 0
	h.Record(1 << 62)
	s := h.Snapshot()
	if s.Quantile(0.5) != 0 || s.Quantile(1) != 1<<62 {
		t.Fatalf("q50 %d q100 %d", s.Quantile(0.5), s.Quantile(1))
	}
}

func TestHistConcurrent(t *testing.T) {
	var h Hist
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10000 {
				h.Record(int64(g*10000 + i))
			}
		}()
	}
	wg.Wait()
	s := h.Snapshot()
	if s.N != 80000 || s.Max != 79999 {
		t.Fatalf("n %d max %d", s.N, s.Max)
	}
}

func TestSummaryMilliseconds(t *testing.T) {
	var h Hist
	h.Record(2_500_000) // 2.5 ms
	l := h.Snapshot().Summary()
	if l.Max != 2.5 || l.N != 1 || l.P50 < 2.5 || l.P50 > 2.5*(1+1.0/64) {
		t.Fatalf("%+v", l)
	}
}
