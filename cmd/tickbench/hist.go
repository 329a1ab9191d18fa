package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Hist is a concurrent log-linear histogram of non-negative int64 values
// (nanoseconds here). Values below 128 have their own bucket; above, every
// power of two is split into 64 buckets, so a reported quantile is within
// 1/64 (1.6%) of the true value. Record is lock-free and allocation-free.
type Hist struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per power of two
	// the largest shift is 63-(histSubBits+1) (for 2^63-1), so the top
	// index is that shift·histSub + 2·histSub - 1.
	histBuckets = (63-histSubBits-1)*histSub + 2*histSub
)

// bucketOf maps v ≥ 0 to its bucket index.
func bucketOf(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (histSubBits + 1)
	return shift*histSub + int(uint64(v)>>shift)
}

// bucketBounds is the inclusive value range of bucket i.
func bucketBounds(i int) (lo, hi int64) {
	if i < 2*histSub {
		return int64(i), int64(i)
	}
	shift := i/histSub - 1
	m := int64(i%histSub + histSub)
	return m << shift, (m+1)<<shift - 1
}

// Record adds one value; negatives count as 0.
func (h *Hist) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of values recorded.
func (h *Hist) Count() uint64 { return h.n.Load() }

// Snapshot copies the histogram for quantile queries.
func (h *Hist) Snapshot() *HistSnap {
	s := &HistSnap{Max: h.max.Load(), Sum: h.sum.Load()}
	for i := range h.counts {
		c := h.counts[i].Load()
		s.counts[i] = c
		s.N += c
	}
	return s
}

// HistSnap is a point-in-time copy of a Hist.
type HistSnap struct {
	counts [histBuckets]uint64
	N      uint64
	Sum    uint64
	Max    int64
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the upper bound of
// the bucket holding the ceil(q·N)-th smallest value, clipped to the
// maximum seen. It is 0 with no values.
func (s *HistSnap) Quantile(q float64) int64 {
	if s.N == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.N)))
	if rank < 1 {
		rank = 1
	}
	if rank > s.N {
		rank = s.N
	}
	var cum uint64
	for i, c := range s.counts {
		cum += c
		if cum >= rank {
			_, hi := bucketBounds(i)
			return min(hi, s.Max)
		}
	}
	return s.Max
}

// Mean is the arithmetic mean, 0 with no values.
func (s *HistSnap) Mean() float64 {
	if s.N == 0 {
		return 0
	}
	return float64(s.Sum) / float64(s.N)
}

// Latency is the quantile summary written to the report, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
	N    uint64  `json:"n"`
}

func ms(ns int64) float64 { return math.Round(float64(ns)/float64(time.Millisecond)*1000) / 1000 }

// Summary is the report's view of the snapshot (values in nanoseconds).
func (s *HistSnap) Summary() *Latency {
	if s.N == 0 {
		return nil
	}
	return &Latency{
		P50: ms(s.Quantile(0.50)), P90: ms(s.Quantile(0.90)), P99: ms(s.Quantile(0.99)),
		P999: ms(s.Quantile(0.999)), Max: ms(s.Max), Mean: ms(int64(s.Mean())), N: s.N,
	}
}
