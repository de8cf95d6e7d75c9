// Package spendapi serves the spend endpoints over a spend.Store:
//
//	GET /spend/logs    records, newest first, one page at a time
//	                   start_date, end_date (YYYY-MM-DD, end inclusive; or RFC 3339, end exclusive),
//	                   model (model group or requested model), request_id,
//	                   api_key (the key or its SHA-256 hex), user_id, team_id (a virtual
//	                   key's owners), limit (1-1000, default 100), cursor
//	                   -> {"data": [record...], "next_cursor": "..." | null, "has_more": bool}
//	GET /spend/report  totals of requests, tokens and cost
//	                   group_by = model_group (default) | deployment | provider | day | api_key
//	                   | user | team,
//	                   start_date, end_date as above
//	                   -> {"group_by": ..., "data": [{"group": ..., "requests": ..., "spend": ...}], "total": {...}}
//
// The handlers carry no authentication: core/server registers them behind
// the master key (server.Options.Extra).
package spendapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// Options tune the handlers.
type Options struct {
	Logger *slog.Logger
}

// Handlers returns the spend routes, keyed by http.ServeMux pattern.
func Handlers(s spend.Store, o Options) map[string]http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handlers{s: s, log: o.Logger}
	return map[string]http.Handler{
		"GET /spend/logs":   http.HandlerFunc(h.logs),
		"GET /spend/report": http.HandlerFunc(h.report),
	}
}

type handlers struct {
	s   spend.Store
	log *slog.Logger
}

type logsResponse struct {
	Data       []spend.Record `json:"data"`
	NextCursor *string        `json:"next_cursor"`
	HasMore    bool           `json:"has_more"`
}

func (h *handlers) logs(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	start, end, err := dateRange(v.Get("start_date"), v.Get("end_date"))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	q := spend.Query{
		Start: start, End: end,
		Model:     v.Get("model"),
		RequestID: v.Get("request_id"),
		KeyHash:   spend.HashKey(v.Get("api_key")),
		UserID:    v.Get("user_id"),
		TeamID:    v.Get("team_id"),
		Cursor:    v.Get("cursor"),
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > spend.MaxLimit {
			badRequest(w, fmt.Sprintf("limit: want a number from 1 to %d", spend.MaxLimit))
			return
		}
		q.Limit = n
	}
	page, err := h.s.QuerySpend(r.Context(), q)
	if errors.Is(err, spend.ErrBadCursor) {
		badRequest(w, "cursor: not a cursor from a previous /spend/logs page")
		return
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out := logsResponse{Data: page.Records, HasMore: page.NextCursor != ""}
	if out.Data == nil {
		out.Data = []spend.Record{}
	}
	if out.HasMore {
		out.NextCursor = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handlers) report(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	start, end, err := dateRange(v.Get("start_date"), v.Get("end_date"))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	by := v.Get("group_by")
	if by == "" {
		by = spend.GroupByModelGroup
	}
	if !spend.ValidGroupBy(by) {
		badRequest(w, fmt.Sprintf("group_by: unknown %q (want model_group, deployment, provider, day, api_key, user or team)", by))
		return
	}
	rep, err := spend.Summarize(r.Context(), h.s, spend.ReportQuery{Start: start, End: end, GroupBy: by})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// dateRange reads start_date and end_date. A bare date means the whole day
// (UTC): end_date=2026-03-10 includes that day.
func dateRange(startS, endS string) (start, end time.Time, err error) {
	if startS != "" {
		if start, _, err = parseDate(startS); err != nil {
			return start, end, fmt.Errorf("start_date: %w", err)
		}
	}
	if endS != "" {
		var dateOnly bool
		if end, dateOnly, err = parseDate(endS); err != nil {
			return start, end, fmt.Errorf("end_date: %w", err)
		}
		if dateOnly {
			end = end.AddDate(0, 0, 1)
		}
	}
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		return start, end, errors.New("start_date must be before end_date")
	}
	return start, end, nil
}

func parseDate(s string) (time.Time, bool, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, nil
	}
	return time.Time{}, false, fmt.Errorf("want YYYY-MM-DD or an RFC 3339 time, got %q", s)
}

func (h *handlers) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	h.log.Error("spend query failed", "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusServiceUnavailable, errorBody("api_error", "spend store unavailable; try again"))
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, errorBody("invalid_request_error", msg))
}

// errorBody has the gateway's (Anthropic's) error shape.
func errorBody(typ, msg string) any {
	return map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
