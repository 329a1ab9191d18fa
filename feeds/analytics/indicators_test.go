package analytics

import (
	"math"
	"testing"
)

// Closes of the StockCharts "Relative Strength Index" ChartSchool example
// (the classic 14-period worked example, also used by TA-Lib users).
var rsiCloses = []float64{
	44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08,
	45.89, 46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64,
	46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.18, 44.22, 44.57,
	43.42, 42.66, 43.13,
}

func TestRSIWilderReference(t *testing.T) {
	// Full-precision Wilder RSI(14) from the 15th close on (TA-Lib gives
	// the same values).
	exact := []float64{
		70.46, 66.25, 66.48, 69.35, 66.29, 57.92, 62.88, 63.21, 56.01, 62.34,
		54.67, 50.39, 40.02, 41.49, 41.90, 45.50, 37.32, 33.09, 37.79,
	}
	// The values StockCharts publishes, computed from averages rounded to
	// two decimals at each step: within 0.1 of the exact ones.
	published := []float64{
		70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38,
		54.71, 50.42, 39.99, 41.46, 41.87, 45.46, 37.30, 33.08, 37.77,
	}
	got := RSI(rsiCloses, 14)
	if len(got) != len(rsiCloses) {
		t.Fatalf("len %d", len(got))
	}
	for i := 0; i < 14; i++ {
		if !math.IsNaN(got[i]) {
			t.Errorf("RSI[%d] = %v, want NaN (fewer than 14 changes)", i, got[i])
		}
	}
	for i := range exact {
		g := got[14+i]
		if math.Abs(g-exact[i]) > 0.005 {
			t.Errorf("RSI[%d] = %.4f, want %.2f", 14+i, g, exact[i])
		}
		if math.Abs(g-published[i]) > 0.1 {
			t.Errorf("RSI[%d] = %.4f, StockCharts publishes %.2f", 14+i, g, published[i])
		}
	}
}

func TestRSIEdges(t *testing.T) {
	up := []float64{1, 2, 3, 4, 5}
	down := []float64{5, 4, 3, 2, 1}
	flat := []float64{3, 3, 3, 3, 3}
	for _, tc := range []struct {
		name string
		xs   []float64
		want float64
	}{{"only gains", up, 100}, {"only losses", down, 0}, {"no change", flat, 50}} {
		if got := Last(RSI(tc.xs, 4)); got != tc.want {
			t.Errorf("%s: RSI = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := RSI(up, 5); !math.IsNaN(Last(got)) {
		t.Errorf("RSI(5) of 5 closes = %v, want NaN", got)
	}
}

// StockCharts "Moving Averages - Simple and Exponential" ChartSchool
// example: 10-day SMA and EMA of 30 closes.
var maCloses = []float64{
	22.27, 22.19, 22.08, 22.17, 22.18, 22.13, 22.23, 22.43, 22.24, 22.29,
	22.15, 22.39, 22.38, 22.61, 23.36, 24.05, 23.75, 23.83, 23.95, 23.63,
	23.82, 23.87, 23.65, 23.19, 23.10, 23.33, 22.68, 23.10, 22.40, 22.17,
}

func TestSMAEMAStockCharts(t *testing.T) {
	// SMA(10) by hand: the mean of each window of ten closes.
	sma := []float64{
		22.221, 22.209, 22.229, 22.259, 22.303, 22.421, 22.613, 22.765, 22.905, 23.076,
		23.210, 23.377, 23.525, 23.652, 23.710, 23.684, 23.612, 23.505, 23.432, 23.277, 23.131,
	}
	// EMA(10) as StockCharts publishes it (two decimals).
	ema := []float64{
		22.22, 22.21, 22.24, 22.27, 22.33, 22.52, 22.80, 22.97, 23.13, 23.28,
		23.34, 23.43, 23.51, 23.53, 23.47, 23.40, 23.39, 23.26, 23.23, 23.08, 22.92,
	}
	gotS, gotE := SMA(maCloses, 10), EMA(maCloses, 10)
	for i := 0; i < 9; i++ {
		if !math.IsNaN(gotS[i]) || !math.IsNaN(gotE[i]) {
			t.Fatalf("index %d defined before 10 closes", i)
		}
	}
	for i := range sma {
		if math.Abs(gotS[9+i]-sma[i]) > 1e-9 {
			t.Errorf("SMA[%d] = %.4f, want %.3f", 9+i, gotS[9+i], sma[i])
		}
		if math.Abs(gotE[9+i]-ema[i]) > 0.005 {
			t.Errorf("EMA[%d] = %.4f, want %.2f", 9+i, gotE[9+i], ema[i])
		}
	}
}

func TestVWAP(t *testing.T) {
	for _, tc := range []struct {
		name          string
		prices, sizes []float64
		want          float64
	}{
		// (10·100 + 11·300 + 12·100)/500 = 5500/500
		{"weighted", []float64{10, 11, 12}, []float64{100, 300, 100}, 11},
		{"one trade", []float64{189.32}, []float64{7}, 189.32},
		// (100·1 + 102·3)/4 = 101.5
		{"two", []float64{100, 102}, []float64{1, 3}, 101.5},
	} {
		if got := VWAP(tc.prices, tc.sizes); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: VWAP = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := VWAP([]float64{1}, []float64{0}); !math.IsNaN(got) {
		t.Errorf("VWAP with no volume = %v, want NaN", got)
	}
}

func TestVolatility(t *testing.T) {
	// Closes 100, 110, 99, 108.9: log returns ln 1.1, ln 0.9, ln 1.1 =
	// 0.0953102, −0.1053605, 0.0953102; mean 0.0284199; sample variance
	// (2·0.0668902² + 0.1337805²)/2 = 0.0134229; stdev 0.1158573.
	closes := []float64{100, 110, 99, 108.9}
	if got := Volatility(closes, 3, 1); math.Abs(got-0.1158573) > 1e-6 {
		t.Errorf("per-period volatility = %.7f, want 0.1158573", got)
	}
	if got := Volatility(closes, 3, 252); math.Abs(got-0.1158573*math.Sqrt(252)) > 1e-5 {
		t.Errorf("annualised volatility = %.6f", got)
	}
	// Only the last n returns count.
	if got := Volatility(append([]float64{1}, closes...), 3, 1); math.Abs(got-0.1158573) > 1e-6 {
		t.Errorf("window = %.7f", got)
	}
	// A constant growth rate has no volatility.
	if got := Volatility([]float64{1, 2, 4, 8}, 3, 1); math.Abs(got) > 1e-12 {
		t.Errorf("geometric series volatility = %v", got)
	}
	if got := Volatility(closes, 4, 1); !math.IsNaN(got) {
		t.Errorf("too few closes: %v", got)
	}
}

func TestChangeHighLow(t *testing.T) {
	if got := ChangePct(200, 206.2); math.Abs(got-3.1) > 1e-9 {
		t.Errorf("ChangePct = %v, want 3.1", got)
	}
	if got := ChangePct(0, 1); !math.IsNaN(got) {
		t.Errorf("ChangePct from 0 = %v", got)
	}
	hi, lo := HighLow([]float64{3, 9, -1, 4})
	if hi != 9 || lo != -1 {
		t.Errorf("HighLow = %v, %v", hi, lo)
	}
	if hi, lo := HighLow(nil); !math.IsNaN(hi) || !math.IsNaN(lo) {
		t.Errorf("HighLow(nil) = %v, %v", hi, lo)
	}
}
