// Package analytics computes market indicators and runs the analytics feed:
// it consumes market.<SYMBOL> ticks and publishes analytics.<SYMBOL>
// (indicators, throttled) and candle.<SYMBOL> (one-minute OHLCV bars).
//
// The indicator functions are pure and work on slices; series functions
// return a slice aligned with their input, NaN where the indicator is not
// defined yet. The runner recomputes them over a bounded window of
// one-minute closes (the bar in progress counts with its current close, as
// charting platforms show a live indicator).
package analytics

import "math"

// MinutesPerTradingYear annualises one-minute volatility: 252 days × 390
// minutes, the same trading year as feeds/market uses.
const MinutesPerTradingYear = 252 * 390

// SMA returns the simple moving average of xs over n periods: out[i] is the
// mean of xs[i-n+1..i], NaN for i < n-1.
func SMA(xs []float64, n int) []float64 {
	out := nans(len(xs))
	if n <= 0 {
		return out
	}
	var sum float64
	for i, x := range xs {
		sum += x
		if i >= n {
			sum -= xs[i-n]
		}
		if i >= n-1 {
			out[i] = sum / float64(n)
		}
	}
	return out
}

// EMA returns the exponential moving average of xs over n periods, with
// multiplier 2/(n+1), seeded with the SMA of the first n values (the
// convention of StockCharts and most charting packages): out[n-1] is that
// SMA, out[i] = out[i-1] + k·(xs[i] − out[i-1]) after; NaN before.
func EMA(xs []float64, n int) []float64 {
	out := nans(len(xs))
	if n <= 0 || len(xs) < n {
		return out
	}
	k := 2 / float64(n+1)
	var sum float64
	for _, x := range xs[:n] {
		sum += x
	}
	out[n-1] = sum / float64(n)
	for i := n; i < len(xs); i++ {
		out[i] = out[i-1] + k*(xs[i]-out[i-1])
	}
	return out
}

// RSI returns J. Welles Wilder's Relative Strength Index over n periods
// ("New Concepts in Technical Trading Systems", 1978): the first average
// gain and loss are the plain means of the first n changes, later ones are
// smoothed as avg = (prev·(n−1) + current)/n; RSI = 100 − 100/(1 + avgGain/
// avgLoss). out[i] is defined from i = n on (n changes need n+1 closes); it
// is 100 when there were no losses and 50 when there was no change at all.
func RSI(closes []float64, n int) []float64 {
	out := nans(len(closes))
	if n <= 0 || len(closes) <= n {
		return out
	}
	var gain, loss float64
	for i := 1; i < len(closes); i++ {
		d := closes[i] - closes[i-1]
		g, l := math.Max(d, 0), math.Max(-d, 0)
		if i <= n {
			gain += g / float64(n)
			loss += l / float64(n)
			if i < n {
				continue
			}
		} else {
			gain = (gain*float64(n-1) + g) / float64(n)
			loss = (loss*float64(n-1) + l) / float64(n)
		}
		out[i] = rsiOf(gain, loss)
	}
	return out
}

func rsiOf(gain, loss float64) float64 {
	switch {
	case loss == 0 && gain == 0:
		return 50
	case loss == 0:
		return 100
	}
	return 100 - 100/(1+gain/loss)
}

// VWAP returns the volume-weighted average price Σ pᵢ·sᵢ / Σ sᵢ, or NaN when
// the sizes sum to zero. prices and sizes must have the same length.
func VWAP(prices, sizes []float64) float64 {
	var pv, v float64
	for i, p := range prices {
		pv += p * sizes[i]
		v += sizes[i]
	}
	if v == 0 {
		return math.NaN()
	}
	return pv / v
}

// LogReturns returns ln(xs[i]/xs[i-1]) for i ≥ 1 (one fewer than xs).
func LogReturns(xs []float64) []float64 {
	if len(xs) < 2 {
		return nil
	}
	out := make([]float64, len(xs)-1)
	for i := 1; i < len(xs); i++ {
		out[i-1] = math.Log(xs[i] / xs[i-1])
	}
	return out
}

// StdDev returns the sample standard deviation (n−1 denominator) of xs, NaN
// for fewer than two values.
func StdDev(xs []float64) float64 {
	if len(xs) < 2 {
		return math.NaN()
	}
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

// Volatility returns the sample standard deviation of the last n log
// returns of closes (so the last n+1 closes), multiplied by
// √periodsPerYear: with one-minute closes and MinutesPerTradingYear it is
// the annualised volatility (0.25 = 25%); with periodsPerYear = 1 it is the
// per-period volatility. NaN when there are fewer than n+1 closes or n < 2.
func Volatility(closes []float64, n int, periodsPerYear float64) float64 {
	if n < 2 || len(closes) < n+1 {
		return math.NaN()
	}
	return StdDev(LogReturns(closes[len(closes)-n-1:])) * math.Sqrt(periodsPerYear)
}

// ChangePct returns the change from open to last in percent, NaN when open
// is not positive.
func ChangePct(open, last float64) float64 {
	if !(open > 0) {
		return math.NaN()
	}
	return (last - open) / open * 100
}

// HighLow returns the largest and smallest of xs, NaN for none.
func HighLow(xs []float64) (high, low float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	high, low = xs[0], xs[0]
	for _, x := range xs[1:] {
		high, low = math.Max(high, x), math.Min(low, x)
	}
	return high, low
}

// Last returns the last element of xs, NaN for none.
func Last(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return xs[len(xs)-1]
}

func nans(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	return out
}
