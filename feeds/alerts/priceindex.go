package alerts

import (
	"sort"

	"github.com/tickroom/tickroom/internal/protocol"
)

// priceIndex holds the armed (unclaimed) price alerts by symbol, so that a
// tick finds the alerts it crosses without looking at the others: per
// symbol, the "above" levels and the "below" levels each in a slice sorted
// so that the alerts a price crosses first sit at the end. A tick at price
// p crosses every above-level <= p and every below-level >= p: a binary
// search finds where that run starts and the run is cut off the tail, so
// crossed costs O(log n + k) for k crossed alerts of n on the symbol's
// side. add and remove search the same way and then shift the slice
// (O(n) memory moves of n on that side, a few dozen entries in practice).
//
// Not safe for concurrent use: the evaluator's Run loop owns it.
type priceIndex struct {
	syms  map[string]*symbolLevels
	where map[string]indexed // key → where it is, for remove
}

// symbolLevels is one symbol's armed alerts.
//
//   - above: descending by level, so the lowest levels (crossed first as
//     the price rises) are last;
//   - below: ascending by level, so the highest levels (crossed first as
//     the price falls) are last.
//
// Equal levels keep insertion order; all of them cross together.
type symbolLevels struct {
	above, below []level
}

type level struct {
	at  float64
	key string
}

type indexed struct {
	sym   string
	above bool
	at    float64
}

func newPriceIndex() *priceIndex {
	return &priceIndex{syms: map[string]*symbolLevels{}, where: map[string]indexed{}}
}

// Len returns how many alerts are indexed.
func (x *priceIndex) Len() int { return len(x.where) }

// add indexes the alert under key, replacing what key held. An alert
// with no level is not indexed (it can never cross).
func (x *priceIndex) add(key string, a protocol.PriceAlert) {
	x.remove(key)
	var in indexed
	switch {
	case a.Above != nil: // as protocol.PriceAlert.Crossed: Above wins
		in = indexed{sym: a.Symbol, above: true, at: *a.Above}
	case a.Below != nil:
		in = indexed{sym: a.Symbol, at: *a.Below}
	default:
		return
	}
	s := x.syms[in.sym]
	if s == nil {
		s = &symbolLevels{}
		x.syms[in.sym] = s
	}
	side := &s.below
	if in.above {
		side = &s.above
	}
	// Insert after the run of equal levels.
	i := after(*side, in.above, in.at)
	*side = append(*side, level{})
	copy((*side)[i+1:], (*side)[i:])
	(*side)[i] = level{at: in.at, key: key}
	x.where[key] = in
}

// remove drops key from the index; it reports whether key was there.
func (x *priceIndex) remove(key string) bool {
	in, ok := x.where[key]
	if !ok {
		return false
	}
	delete(x.where, key)
	s := x.syms[in.sym]
	side := &s.below
	if in.above {
		side = &s.above
	}
	for i := before(*side, in.above, in.at); i < len(*side) && (*side)[i].at == in.at; i++ {
		if (*side)[i].key == key {
			*side = append((*side)[:i], (*side)[i+1:]...)
			break
		}
	}
	if len(s.above) == 0 && len(s.below) == 0 {
		delete(x.syms, in.sym)
	}
	return true
}

// crossed removes and returns the keys of the symbol's alerts that price
// crosses (above-level <= price, below-level >= price), appended to buf
// (in no promised order).
func (x *priceIndex) crossed(sym string, price float64, buf []string) []string {
	s := x.syms[sym]
	if s == nil {
		return buf
	}
	// above is descending: the crossed run is the tail with at <= price.
	i := sort.Search(len(s.above), func(i int) bool { return s.above[i].at <= price })
	buf = takeTail(buf, s.above[i:], x.where)
	s.above = s.above[:i]
	// below is ascending: the crossed run is the tail with at >= price.
	j := sort.Search(len(s.below), func(j int) bool { return s.below[j].at >= price })
	buf = takeTail(buf, s.below[j:], x.where)
	s.below = s.below[:j]
	if len(s.above) == 0 && len(s.below) == 0 {
		delete(x.syms, sym)
	}
	return buf
}

// takeTail appends the keys of tail and forgets them in where.
func takeTail(buf []string, tail []level, where map[string]indexed) []string {
	for i := len(tail) - 1; i >= 0; i-- {
		buf = append(buf, tail[i].key)
		delete(where, tail[i].key)
		tail[i] = level{} // drop the key string for the collector
	}
	return buf
}

// before returns the first index whose level is at or past at in the
// side's order (the start of the run of levels equal to at).
func before(side []level, descending bool, at float64) int {
	if descending {
		return sort.Search(len(side), func(i int) bool { return side[i].at <= at })
	}
	return sort.Search(len(side), func(i int) bool { return side[i].at >= at })
}

// after returns the first index whose level is strictly past at in the
// side's order (the end of the run of levels equal to at).
func after(side []level, descending bool, at float64) int {
	if descending {
		return sort.Search(len(side), func(i int) bool { return side[i].at < at })
	}
	return sort.Search(len(side), func(i int) bool { return side[i].at > at })
}
