package spend

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store keeps spend records: written in batches by a Recorder, read by the
// spend endpoints. Implementations live in core/store/* next to the
// router.Store of the same backend, and pass the same conformance suite.
type Store interface {
	// PutSpend writes records, idempotent on CallID: a record written again
	// (a retried batch, a duplicate inside one batch) leaves exactly one copy.
	PutSpend(ctx context.Context, recs []Record) error
	// QuerySpend returns the records matching q, newest first (by StartTime),
	// one page at a time. It reads through indexes, never a full scan.
	QuerySpend(ctx context.Context, q Query) (Page, error)
}

// Query selects spend records. Zero fields do not filter.
type Query struct {
	// Start and End bound StartTime: Start <= t < End.
	Start, End time.Time
	// Model matches the model group or the model the client asked for.
	Model string
	// RequestID is the call id (x-litellm-call-id).
	RequestID string
	// KeyHash is the hashed client key (see HashKey).
	KeyHash string
	// UserID and TeamID match the virtual key's user_id and team_id
	// (Record.UserID, Record.TeamID).
	UserID, TeamID string
	// Limit caps the page (DefaultLimit if 0, at most MaxLimit).
	Limit int
	// Cursor continues after the last record of a previous page ("" starts at the newest).
	Cursor string
}

// Page is one page of a query.
type Page struct {
	Records []Record
	// NextCursor continues the query; "" when there is nothing more.
	NextCursor string
}

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ErrBadCursor is returned for a cursor this gateway did not make.
var ErrBadCursor = errors.New("spend: invalid cursor")

// Normalize fills defaults and validates q: Limit within bounds, cursor well formed.
func (q Query) Normalize() (Query, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit > MaxLimit {
		q.Limit = MaxLimit
	}
	q.Model, q.UserID, q.TeamID = validUTF8(q.Model), validUTF8(q.UserID), validUTF8(q.TeamID)
	if q.Cursor != "" {
		if _, err := DecodeCursor(q.Cursor); err != nil {
			return q, err
		}
	}
	return q, nil
}

// SortKey orders records in every store: StartTime in zero-padded Unix
// nanoseconds, then the call id, so byte order is time order and two records
// never tie. Stores index records under it and page with it.
func SortKey(r Record) string {
	return fmt.Sprintf("%019d#%s", unixNanos(r.StartTime), r.CallID)
}

// TimeKey is the sort-key prefix of an instant: every record that started at
// or after t sorts at or after TimeKey(t), every one before it sorts before.
func TimeKey(t time.Time) string {
	return fmt.Sprintf("%019d", unixNanos(t))
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return t.UnixNano()
}

// Bounds turns q's time range and cursor into a sort-key interval [lo, hi):
// records with lo <= SortKey < hi are on the next page (hi is "" for no bound).
func (q Query) Bounds() (lo, hi string) {
	if !q.Start.IsZero() {
		lo = TimeKey(q.Start)
	}
	if !q.End.IsZero() {
		hi = TimeKey(q.End)
	}
	if q.Cursor != "" {
		if c, err := DecodeCursor(q.Cursor); err == nil && (hi == "" || c < hi) {
			hi = c
		}
	}
	return lo, hi
}

// EncodeCursor makes an opaque cursor from the sort key of a page's last record.
func EncodeCursor(sortKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(sortKey))
}

// DecodeCursor returns the sort key a cursor holds.
func DecodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", ErrBadCursor
	}
	s := string(b)
	if len(s) < 21 || s[19] != '#' || strings.Trim(s[:19], "0123456789") != "" {
		return "", ErrBadCursor
	}
	return s, nil
}

// Matches reports whether r satisfies every filter of q (time range, model,
// request id, key, user, team). Stores use it for the filters their chosen index does not
// apply; the cursor is not checked here (see Bounds).
func (q Query) Matches(r Record) bool {
	if !q.Start.IsZero() && r.StartTime.Before(q.Start) {
		return false
	}
	if !q.End.IsZero() && !r.StartTime.Before(q.End) {
		return false
	}
	if m := validUTF8(q.Model); m != "" && validUTF8(r.ModelGroup) != m && validUTF8(r.RequestedModel) != m {
		return false
	}
	if q.RequestID != "" && r.CallID != q.RequestID {
		return false
	}
	if q.KeyHash != "" && r.KeyHash != q.KeyHash {
		return false
	}
	if q.UserID != "" && r.UserID != q.UserID {
		return false
	}
	if q.TeamID != "" && r.TeamID != q.TeamID {
		return false
	}
	return true
}

// ModelNames are the names a record is found under by a model filter: its
// model group and, when different, the model the client asked for.
func ModelNames(r Record) []string {
	// Client-supplied names may not be UTF-8; index them as JSON stores them.
	r.ModelGroup, r.RequestedModel = validUTF8(r.ModelGroup), validUTF8(r.RequestedModel)
	switch {
	case r.ModelGroup == "" && r.RequestedModel == "":
		return nil
	case r.ModelGroup == "":
		return []string{r.RequestedModel}
	case r.RequestedModel == "" || r.RequestedModel == r.ModelGroup:
		return []string{r.ModelGroup}
	}
	return []string{r.ModelGroup, r.RequestedModel}
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// Dedupe drops records with an empty call id and keeps the last record of
// each call id, so one batch never writes the same key twice (DynamoDB
// rejects such a batch outright).
func Dedupe(recs []Record) []Record {
	seen := make(map[string]int, len(recs))
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		if r.CallID == "" {
			continue
		}
		if i, ok := seen[r.CallID]; ok {
			out[i] = r
			continue
		}
		seen[r.CallID] = len(out)
		out = append(out, r)
	}
	return out
}

// HashKey is how spend records identify a client key: the hex SHA-256 of the
// key, as core/server stores it. A value that already is such a hash is
// returned unchanged, so /spend/logs accepts either the key or its hash.
func HashKey(key string) string {
	if key == "" {
		return ""
	}
	if len(key) == 64 && strings.Trim(key, "0123456789abcdef") == "" {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
