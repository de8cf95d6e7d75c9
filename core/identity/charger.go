package identity

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// charger sends finished calls' spend and tokens to the store, off the
// request path. End adds a call's amounts to the pending sum of each
// counter it touches and makes sure one flusher is running; the flusher
// sends every pending sum as one atomic increment and repeats until
// nothing is pending. An idle gateway so sends each call's charge at once
// (as before); a busy one merges the calls that finished during one store
// round trip into one increment per counter, with no goroutine, timer or
// context per call. On an in-process store (memory, embedded: an increment
// is a map update) each charge is sent at once instead, inline: handing it
// to a goroutine cost more than the increment itself.
type charger struct {
	g       *Gatekeeper
	inline  bool
	mu      sync.Mutex
	pending map[chargeKey]chargeSum
	spare   map[chargeKey]chargeSum // the flusher's last batch, cleared, for reuse
	running bool
	wg      sync.WaitGroup // the flusher, while it runs (Wait)
}

// chargeKey is one counter of one subject: its spend in the budget window
// starting at start, or its tokens in the minute starting at start.
type chargeKey struct {
	s      *subject
	tokens bool
	start  int64 // Unix seconds
}

// chargeSum is what the pending calls add to one counter.
type chargeSum struct {
	name    string
	delta   int64
	expires time.Time
}

// add charges micro and tokens to every level (tokens only where a
// tpm_limit counts them). The levels' in-process counters move at once.
func (ch *charger) add(levels []level, micro, tokens int64, now *clock) {
	if ch.inline {
		for _, l := range levels {
			ch.each(l, micro, tokens, now)
		}
		return
	}
	ch.mu.Lock()
	if ch.pending == nil {
		ch.pending = map[chargeKey]chargeSum{}
	}
	for _, l := range levels {
		ch.each(l, micro, tokens, now)
	}
	if !ch.running && len(ch.pending) > 0 {
		ch.running = true
		ch.wg.Add(1)
		go ch.flush()
	}
	ch.mu.Unlock()
}

// each moves l's in-process counters by micro and tokens at once, and
// each store counter the call moves (tokens only where a tpm_limit counts
// them): sent at once if inline, else added to the pending sums (ch.mu held).
func (ch *charger) each(l level, micro, tokens int64, now *clock) {
	charge := ch.sum
	if ch.inline {
		charge = ch.sendOne
	}
	l.s.spend.Add(micro)
	l.s.tpm.Add(tokens)
	if micro > 0 {
		w, _ := ParseWindow(l.p.BudgetDuration)
		var t time.Time // the zero Window spans all time
		if w != (Window{}) {
			t = now.get()
		}
		name, start, end := l.s.spendCounter(w, t)
		charge(chargeKey{s: l.s, start: start}, chargeSum{name: name, delta: micro, expires: end.Add(time.Hour)})
	}
	if tokens > 0 && l.p.TPMLimit != nil {
		name, start, end := l.s.minuteCounter(&l.s.tpmName, tpmPrefix, now.get())
		charge(chargeKey{s: l.s, tokens: true, start: start}, chargeSum{name: name, delta: tokens, expires: end.Add(time.Minute)})
	}
}

// sum adds c to k's pending sum. ch.mu must be held.
func (ch *charger) sum(k chargeKey, c chargeSum) {
	v := ch.pending[k]
	v.name, v.delta, v.expires = c.name, v.delta+c.delta, c.expires
	ch.pending[k] = v
}

// flush sends pending sums until none is left.
func (ch *charger) flush() {
	defer ch.wg.Done()
	for {
		ch.mu.Lock()
		batch := ch.pending
		if len(batch) == 0 {
			ch.running = false
			ch.mu.Unlock()
			return
		}
		ch.pending, ch.spare = ch.spare, nil
		ch.mu.Unlock()
		ch.send(batch)
		clear(batch)
		ch.mu.Lock()
		ch.spare = batch
		ch.mu.Unlock()
	}
}

func (ch *charger) send(batch map[chargeKey]chargeSum) {
	// No deadline of its own: the gateway's store (core/store/guard) bounds
	// every operation, and a batch of one call (an idle gateway) would pay a
	// timer per call.
	for k, v := range batch {
		ch.sendOne(k, v)
	}
}

// sendOne adds v to its store counter.
func (ch *charger) sendOne(k chargeKey, v chargeSum) {
	n, _, err := ch.g.repo.Store.Incr(context.Background(), v.name, v.delta, 0, v.expires)
	if err != nil {
		what := "spend"
		if k.tokens {
			what = "tokens"
		}
		ch.g.log.Warn("charging "+what+" failed", "error", err)
		return
	}
	// The increment answers the fleet-wide total: every charge also
	// refreshes this instance's view, if the window is still current.
	if k.tokens {
		if c := k.s.tpmName.Load(); c != nil && c.start == k.start {
			raiseTo(&k.s.tpm, n)
		}
	} else if c := k.s.spendName.Load(); c != nil && c.start == k.start {
		raiseTo(&k.s.spend, n)
	}
}

// raiseTo sets a to v unless a is already larger (charges of this
// instance still on their way to the store).
func raiseTo(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// counterName is a subject's counter name for the window starting at start
// (Unix seconds): cached, so steady-state requests and refreshes format
// none.
type counterName struct {
	start int64
	name  string
}

// counter returns slot's name for the window starting at start, making
// (and caching) it when the window is new.
func (s *subject) counter(slot *atomic.Pointer[counterName], prefix string, start int64) string {
	if c := slot.Load(); c != nil && c.start == start {
		return c.name
	}
	c := &counterName{start: start, name: prefix + s.name + ":" + strconv.FormatInt(start, 10)}
	slot.Store(c)
	return c.name
}

// spendCounter names the subject's budget counter of w's window containing now.
func (s *subject) spendCounter(w Window, now time.Time) (name string, start int64, end time.Time) {
	st, end := w.Span(now)
	start = st.Unix()
	return s.counter(&s.spendName, spendPrefix, start), start, end
}

// minuteCounter names the subject's per-minute counter (rpm, tpm) containing now.
func (s *subject) minuteCounter(slot *atomic.Pointer[counterName], prefix string, now time.Time) (name string, start int64, end time.Time) {
	st := now.UTC().Truncate(time.Minute)
	start = st.Unix()
	return s.counter(slot, prefix, start), start, st.Add(time.Minute)
}
