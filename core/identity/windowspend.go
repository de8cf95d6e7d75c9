package identity

import (
	"context"
	"time"
)

// WindowSpend returns each key's spend, in USD, in its current budget window
// at now (the same counter the Gatekeeper checks max_budget against), in one
// store round trip. Consoles draw budget bars with it.
func (r Repo) WindowSpend(ctx context.Context, keys []*Key, now time.Time) ([]float64, error) {
	names := make([]string, len(keys))
	for i, k := range keys {
		w, _ := ParseWindow(k.BudgetDuration)
		names[i], _ = spendCounter(k.Token, w, now)
	}
	if len(names) == 0 {
		return nil, nil
	}
	vals, err := r.Store.Counts(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = float64(v) / 1e6
	}
	return out, nil
}
