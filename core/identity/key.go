// Package identity holds virtual keys (LiteLLM's names and shapes), their
// policy (model access, rate limits, budgets with reset windows, expiry,
// blocking) and the in-process cache that enforces it on every model call.
//
// Keys persist through the router's Store (entries for the key documents,
// counters for budget and rate windows), so every state backend (memory,
// embedded, Redis, DynamoDB, Firestore) holds them without a database
// server. Only a key's SHA-256 is stored; the key itself is shown once.
package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Key is a virtual key's document, with LiteLLM's field names. Token is the
// hex SHA-256 of the key; the key itself is never stored.
type Key struct {
	Token               string         `json:"token"`
	KeyName             string         `json:"key_name"`
	KeyAlias            string         `json:"key_alias,omitempty"`
	Models              []string       `json:"models"`
	MaxBudget           *float64       `json:"max_budget"`
	BudgetDuration      string         `json:"budget_duration,omitempty"`
	RPMLimit            *int64         `json:"rpm_limit"`
	TPMLimit            *int64         `json:"tpm_limit"`
	MaxParallelRequests *int64         `json:"max_parallel_requests"`
	Expires             *time.Time     `json:"expires"`
	Blocked             bool           `json:"blocked"`
	Metadata            map[string]any `json:"metadata"`
	UserID              string         `json:"user_id,omitempty"`
	TeamID              string         `json:"team_id,omitempty"`
	CreatedAt           time.Time      `json:"created_at"`
	UpdatedAt           time.Time      `json:"updated_at"`
}

// Expired reports whether the key's expiry has passed at now.
func (k *Key) Expired(now time.Time) bool { return k.Expires != nil && !now.Before(*k.Expires) }

// HashKey is the stored form of a key: hex SHA-256.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewSecret returns a fresh key: "sk-" and 192 random bits, URL-safe.
func NewSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "sk-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// displayName is LiteLLM's key_name: "sk-...abcd". Four characters of 192
// random bits reveal nothing guessable.
func displayName(secret string) string {
	if len(secret) < 8 {
		return "sk-..."
	}
	return "sk-..." + secret[len(secret)-4:]
}

// Window is a budget_duration: a fixed length ("30s", "1h", "1d", "7d") or
// calendar months ("1mo"). The zero Window never resets.
type Window struct {
	d      time.Duration
	months int
}

// ErrBadDuration is returned for a budget_duration or duration that does not parse.
var ErrBadDuration = errors.New(`want a number followed by s, m, h, d or mo (e.g. "30d", "1mo")`)

// ParseWindow parses LiteLLM's duration strings: Ns, Nm, Nh, Nd, Nmo.
func ParseWindow(s string) (Window, error) {
	if s == "" {
		return Window{}, nil
	}
	unit := strings.TrimLeft(s, "0123456789")
	n, err := strconv.Atoi(strings.TrimSuffix(s, unit))
	if err != nil || n <= 0 {
		return Window{}, ErrBadDuration
	}
	switch unit {
	case "s":
		return Window{d: time.Duration(n) * time.Second}, nil
	case "m":
		return Window{d: time.Duration(n) * time.Minute}, nil
	case "h":
		return Window{d: time.Duration(n) * time.Hour}, nil
	case "d":
		return Window{d: time.Duration(n) * 24 * time.Hour}, nil
	case "mo":
		return Window{months: n}, nil
	}
	return Window{}, ErrBadDuration
}

// Span returns the window containing now: fixed windows are aligned to the
// Unix epoch (so every instance agrees without coordination), month windows
// to the first of the month, UTC. The zero Window spans all time.
func (w Window) Span(now time.Time) (start, end time.Time) {
	now = now.UTC()
	switch {
	case w.d > 0:
		start = now.Truncate(w.d)
		return start, start.Add(w.d)
	case w.months > 0:
		m := (int(now.Month())-1)/w.months*w.months + 1
		start = time.Date(now.Year(), time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, w.months, 0)
	}
	return time.Unix(0, 0).UTC(), farFuture
}

// farFuture stands for "never expires" in stores that need an expiry.
var farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// microUSD converts dollars to the integer unit budget counters hold.
func microUSD(usd float64) int64 { return int64(usd*1e6 + 0.5) }

func fmtUSD(micro int64) string { return strconv.FormatFloat(float64(micro)/1e6, 'f', 6, 64) }
