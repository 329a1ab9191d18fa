package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// A sweep finds a server's sustained capacity: the highest offered rate at
// which at least MinDeliveredPct of what was offered arrives and the p99
// latency (tick age for market) stays within MaxP99. Each step is a fresh
// measurement (a fresh server when tickbench starts it with -server) with
// a warm-up that is not counted. Rates grow geometrically from the start
// until the first failing step, then bisect (geometric midpoints) between
// the last pass and the first failure. If the start itself fails, the
// sweep steps down first. One failure ends the climb: a point past the
// cliff is not retried, so capacity is never reported above a failure.

// sweepPlan says which rates to try.
type sweepPlan struct {
	Start     float64 // first rate
	Max       float64 // no step above it; reaching it passing leaves capacity unbounded
	Factor    float64 // > 1: next rate = rate × Factor while steps pass
	Bisect    int     // midpoints to try between the last pass and the first failure
	DownSteps int     // steps down by Factor when Start fails
}

func (p sweepPlan) validate() error {
	switch {
	case p.Start <= 0 || p.Max < p.Start:
		return fmt.Errorf("sweep: need 0 < start (%g) ≤ max (%g)", p.Start, p.Max)
	case p.Factor <= 1:
		return fmt.Errorf("sweep: factor %g must be > 1", p.Factor)
	case p.Bisect < 0 || p.Bisect > 10 || p.DownSteps < 0 || p.DownSteps > 10:
		return fmt.Errorf("sweep: bisect and down steps must be 0…10")
	}
	return nil
}

// Step is one measured point of a sweep.
type Step struct {
	Rate   float64 `json:"rate"` // broadcast: msg/s; market: ticks/s per symbol
	Pass   bool    `json:"pass"`
	Why    string  `json:"why,omitempty"` // what failed, or a note
	Result *Result `json:"result,omitempty"`
}

// SweepResult is a sweep's report.
type SweepResult struct {
	Scenario        string  `json:"scenario"`
	Target          string  `json:"target"`
	Label           string  `json:"label,omitempty"`
	MinDeliveredPct float64 `json:"min_delivered_pct"`
	MaxP99ms        float64 `json:"max_p99_ms"`
	FreshServer     bool    `json:"fresh_server"` // a new server process and data directory per step
	Steps           []Step  `json:"steps"`
	// Capacity is the highest passing step (nil: none passed). FailedAt is
	// the lowest failing rate above it (0: no step failed, so capacity is
	// at least Capacity.Rate and the sweep hit its maximum).
	Capacity *Step   `json:"capacity,omitempty"`
	FailedAt float64 `json:"failed_at,omitempty"`
}

// measureFunc runs one step at rate.
type measureFunc func(ctx context.Context, rate float64) (*Result, error)

// judgeFunc says whether a step's result is within bounds, and why not.
type judgeFunc func(*Result) (pass bool, why string)

// search runs the sweep. A measurement error ends it: the steps so far are
// returned with the error.
func search(ctx context.Context, plan sweepPlan, measure measureFunc, judge judgeFunc, onStep func(Step)) (*SweepResult, error) {
	if err := plan.validate(); err != nil {
		return nil, err
	}
	sr := &SweepResult{}
	try := func(rate float64) (Step, error) {
		if err := ctx.Err(); err != nil {
			return Step{}, err
		}
		res, err := measure(ctx, rate)
		if err != nil {
			return Step{}, fmt.Errorf("step at %g: %w", rate, err)
		}
		st := Step{Rate: rate, Result: res}
		st.Pass, st.Why = judge(res)
		sr.Steps = append(sr.Steps, st)
		if onStep != nil {
			onStep(st)
		}
		return st, nil
	}
	var lo, hi float64 // last pass, first failure (0: none yet)
	pass := func(st Step) { lo = st.Rate; sr.Capacity = &sr.Steps[len(sr.Steps)-1] }
	for rate := plan.Start; ; rate = math.Min(niceRate(rate*plan.Factor), plan.Max) {
		st, err := try(rate)
		if err != nil {
			return sr, err
		}
		if !st.Pass {
			hi = rate
			break
		}
		pass(st)
		if rate >= plan.Max {
			return sr, nil
		}
	}
	if lo == 0 {
		for range plan.DownSteps {
			rate := niceRate(hi / plan.Factor)
			st, err := try(rate)
			if err != nil {
				return sr, err
			}
			if st.Pass {
				pass(st)
				break
			}
			hi = rate
		}
	}
	sr.FailedAt = hi
	if lo == 0 {
		return sr, nil
	}
	for range plan.Bisect {
		mid := niceRate(math.Sqrt(lo * hi))
		if mid <= lo || mid >= hi {
			break // the bracket is as narrow as niceRate resolves
		}
		st, err := try(mid)
		if err != nil {
			return sr, err
		}
		if st.Pass {
			pass(st)
		} else {
			hi = mid
			sr.FailedAt = hi
		}
	}
	// pass() points Capacity into Steps; appends may have moved the slice.
	for i := range sr.Steps {
		if sr.Steps[i].Pass && sr.Steps[i].Rate == lo {
			sr.Capacity = &sr.Steps[i]
		}
	}
	return sr, nil
}

// niceRate rounds to three significant digits, so reports read 141 and not
// 141.4213.
func niceRate(v float64) float64 {
	if v <= 0 {
		return v
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return r
}

// judge checks a step against the bounds: deliveries (of everything sent ×
// subscribers, for broadcast; of every tick × clients, for market — a
// conflated tick is not delivered), the p99, every connection up and none
// dropped.
func judge(minPct float64, maxP99 time.Duration) judgeFunc {
	return func(r *Result) (bool, string) {
		var why []string
		if r.Connected < r.N || r.Dropped > 0 {
			why = append(why, fmt.Sprintf("connections %d of %d, %d dropped", r.Connected, r.N, r.Dropped))
		}
		got, lat := r.OfSentPct, r.Latency
		if r.Scenario == "market" {
			got, lat = r.InWindowPct, r.TickAge
		}
		if got < minPct {
			why = append(why, fmt.Sprintf("delivered %.2f%% < %.2f%%", got, minPct))
		}
		if lat == nil {
			why = append(why, "no latency samples")
		} else if p99 := lat.P99; p99 > ms(int64(maxP99)) {
			why = append(why, fmt.Sprintf("p99 %.1fms > %.1fms", p99, ms(int64(maxP99))))
		}
		if len(why) > 0 {
			return false, strings.Join(why, "; ")
		}
		if r.ClientCPUPct >= 90 {
			return true, fmt.Sprintf("tickbench at %.0f%% of its core", r.ClientCPUPct)
		}
		return true, ""
	}
}

// sweep runs the -sweep mode: one fresh bench (and server, with -server)
// per step.
func sweep(ctx context.Context, o *options, ep *endpoint, srv *serverCmd, log io.Writer) (*SweepResult, error) {
	plan := sweepPlan{Start: o.rate, Max: o.sweepMax, Factor: o.sweepFactor, Bisect: o.bisect, DownSteps: o.downSteps}
	if o.scenario == "market" {
		plan.Start = o.tps
	}
	measure := func(ctx context.Context, rate float64) (*Result, error) {
		so := *o
		if so.scenario == "market" {
			so.tps = rate
		} else {
			so.rate = rate
		}
		b := &bench{o: &so, ep: ep, srv: serverProc{pid: o.pid}, log: log}
		if srv != nil {
			run, err := srv.start(ctx)
			if err != nil {
				return nil, err
			}
			defer run.stop()
			b.srv.pid = run.pid()
			so.pid = run.pid()
		}
		var r *Result
		var err error
		if so.scenario == "market" {
			r, err = b.market(ctx)
		} else {
			r, err = b.broadcast(ctx)
		}
		if r != nil {
			r.Label = o.label
		}
		if srv == nil {
			time.Sleep(time.Second) // let the server settle the closed connections
		}
		return r, err
	}
	onStep := func(st Step) {
		fmt.Fprintf(log, "sweep step %s\n", stepLine(st))
	}
	sr, err := search(ctx, plan, measure, judge(o.minDelivered, o.maxP99), onStep)
	if sr != nil {
		sr.Scenario, sr.Target, sr.Label = o.scenario, o.target, o.label
		sr.MinDeliveredPct, sr.MaxP99ms = o.minDelivered, ms(int64(o.maxP99))
		sr.FreshServer = srv != nil
	}
	return sr, err
}

func stepLine(st Step) string {
	r := st.Result
	verdict := "pass"
	if !st.Pass {
		verdict = "FAIL"
	}
	lat, got := r.Latency, r.OfSentPct
	if r.Scenario == "market" {
		lat, got = r.TickAge, r.InWindowPct
	}
	p99 := math.NaN()
	if lat != nil {
		p99 = lat.P99
	}
	s := fmt.Sprintf("rate %g: offered %.0f/s delivered %.0f/s (%.2f%%) p99 %.1fms server cpu %.0f%% %.0f/cpu-s tickbench cpu %.0f%% %s",
		st.Rate, r.OfferedPS, r.DeliveredPS, got, p99, r.ServerCPUPct, r.PerCPUSec, r.ClientCPUPct, verdict)
	if st.Why != "" {
		s += " (" + st.Why + ")"
	}
	return s
}

func (sr *SweepResult) writeTable(w io.Writer) {
	title := "capacity sweep: " + sr.Scenario + " on " + sr.Target
	if sr.Label != "" {
		title += " (" + sr.Label + ")"
	}
	fmt.Fprintf(w, "%s — bounds: delivered ≥ %.2f%%, p99 ≤ %.0f ms; fresh server per step: %v\n", title, sr.MinDeliveredPct, sr.MaxP99ms, sr.FreshServer)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, st := range sr.Steps {
		fmt.Fprintf(tw, "  step\t%s\n", stepLine(st))
	}
	switch {
	case sr.Capacity == nil:
		fmt.Fprintf(tw, "capacity\tbelow the lowest step tried (%g)\n", sr.FailedAt)
	default:
		r := sr.Capacity.Result
		bound := fmt.Sprintf("< %g (first failure)", sr.FailedAt)
		if sr.FailedAt == 0 {
			bound = "no failure up to the sweep's maximum: capacity is at least this"
		}
		lat := r.Latency
		if r.Scenario == "market" {
			lat = r.TickAge
		}
		var p99 float64
		if lat != nil {
			p99 = lat.P99
		}
		fmt.Fprintf(tw, "capacity\trate %g, %s\n", sr.Capacity.Rate, bound)
		fmt.Fprintf(tw, "  delivered/s\t%.0f (offered %.0f/s), p99 %.1f ms\n", r.DeliveredPS, r.OfferedPS, p99)
		fmt.Fprintf(tw, "  per server CPU-s\t%.0f deliveries (server at %.0f%% of a core)\n", r.PerCPUSec, r.ServerCPUPct)
	}
	tw.Flush()
}
