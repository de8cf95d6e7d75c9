package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// maxLoginBody bounds the sign-in body (a key is well under 1 KB).
const maxLoginBody = 4 << 10

// login signs in with the master key or, when Keys is set, a virtual key.
// It checks the origin (no login CSRF) but cannot check a CSRF token: there
// is no session yet.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "permission_error", "cross-origin request refused")
		return
	}
	var req struct {
		Key string `json:"key"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err != nil || json.Unmarshal(body, &req) != nil || req.Key == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", `want {"key": "sk-..."}`)
		return
	}
	now := c.o.Now()
	if !c.guard.allowed(clientAddr(r), now) {
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "rate_limit_error", "too many wrong keys from this address; try again in a minute")
		return
	}
	ss := session{Expires: now.Add(sessionTTL).Unix(), Nonce: newNonce()}
	got, want := sha256.Sum256([]byte(req.Key)), sha256.Sum256([]byte(c.o.MasterKey))
	switch {
	case subtle.ConstantTimeCompare(got[:], want[:]) == 1:
		ss.Role = roleAdmin
	case c.keyActive(r.Context(), identity.HashKey(req.Key)):
		ss.Role, ss.KeyHash = roleKey, identity.HashKey(req.Key)
	default:
		c.guard.failed(clientAddr(r), now)
		writeError(w, http.StatusUnauthorized, "authentication_error", "unknown, blocked or expired key")
		return
	}
	http.SetCookie(w, sessionCookie(c.sign.encode(ss), time.Unix(ss.Expires, 0)))
	writeJSON(w, http.StatusOK, c.describe(r, ss))
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, sessionCookie("", time.Time{}))
	writeJSON(w, http.StatusOK, map[string]any{"signed_out": true})
}

// sessionInfo answers the page's first question, "am I signed in?", with
// 200 either way ({"role": ""} when not), so a first visit logs no error.
func (c *Console) sessionInfo(w http.ResponseWriter, r *http.Request) {
	ss, ok := c.session(r)
	if ok && c.revoked(r.Context(), ss) != "" {
		ok = false
		http.SetCookie(w, sessionCookie("", time.Time{}))
	}
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"role": "", "sso": c.o.SSO != nil})
		return
	}
	writeJSON(w, http.StatusOK, c.describe(r, ss))
}

// describe is what the page learns about its session: the role, the CSRF
// token, and for a key session the key's public fields and budget use.
func (c *Console) describe(r *http.Request, ss session) map[string]any {
	out := map[string]any{"role": ss.Role, "csrf_token": c.sign.csrf(ss), "expires": time.Unix(ss.Expires, 0).UTC(), "sso": c.o.SSO != nil}
	if ss.viaSSO() {
		out["user"] = map[string]any{"email": ss.Email, "name": ss.Name, "sub": ss.Sub}
	}
	if ss.Role != roleKey {
		return out
	}
	if k := c.lookupKey(r.Context(), ss.KeyHash); k != nil {
		info := map[string]any{"key_name": k.KeyName, "key_alias": k.KeyAlias, "user_id": k.UserID, "team_id": k.TeamID,
			"max_budget": k.MaxBudget, "budget_duration": k.BudgetDuration, "models": k.Models}
		if sp, err := c.o.Keys.WindowSpend(r.Context(), []*identity.Key{k}, c.o.Now()); err == nil {
			info["spend"] = sp[0]
		}
		out["key"] = info
	}
	return out
}

// overviewRanges are the overview's time spans and their steps.
var overviewRanges = map[string]struct {
	step time.Duration
	n    int
}{
	"hour":  {time.Minute, 60},
	"day":   {15 * time.Minute, 96},
	"month": {24 * time.Hour, 30},
}

// series is the overview's answer: one value per bucket, bucket starts in
// Unix seconds; TTFT values are null where no call streamed a first token.
type series struct {
	Range   string     `json:"range"`
	Step    int64      `json:"step_seconds"`
	T       []int64    `json:"t"`
	Reqs    []int64    `json:"requests"`
	Errors  []int64    `json:"errors"`
	Spend   []float64  `json:"spend"`
	Tokens  []int64    `json:"tokens"`
	P50     []*float64 `json:"ttft_p50_ms"`
	P99     []*float64 `json:"ttft_p99_ms"`
	Totals  totals     `json:"totals"`
	Refresh string     `json:"generated_at"`
}

type totals struct {
	Requests int64    `json:"requests"`
	Errors   int64    `json:"errors"`
	Spend    float64  `json:"spend"`
	Tokens   int64    `json:"tokens"`
	P50      *float64 `json:"ttft_p50_ms"`
	P99      *float64 `json:"ttft_p99_ms"`
}

func quantilePtr(h *spend.TTFTHistogram, q float64) *float64 {
	if v := h.Quantile(q); v >= 0 {
		return &v
	}
	return nil
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("range")
	if name == "" {
		name = "day"
	}
	rg, ok := overviewRanges[name]
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "range: want hour, day or month")
		return
	}
	now := c.o.Now().UTC()
	from := now.Truncate(rg.step).Add(-time.Duration(rg.n-1) * rg.step)
	ru, own := c.scope(r.Context())
	bs, err := ru.buckets(r.Context(), own, from, rg.step, rg.n)
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	out := series{Range: name, Step: int64(rg.step / time.Second), Refresh: now.Format(time.RFC3339)}
	var all spend.TTFTHistogram
	for i, b := range bs {
		out.T = append(out.T, from.Add(time.Duration(i)*rg.step).Unix())
		out.Reqs = append(out.Reqs, b.Row.Requests)
		out.Errors = append(out.Errors, b.Row.FailedRequests)
		out.Spend = append(out.Spend, b.Row.Cost)
		out.Tokens = append(out.Tokens, b.Row.TotalTokens)
		out.P50 = append(out.P50, quantilePtr(&b.TTFT, 0.5))
		out.P99 = append(out.P99, quantilePtr(&b.TTFT, 0.99))
		out.Totals.Requests += b.Row.Requests
		out.Totals.Errors += b.Row.FailedRequests
		out.Totals.Spend += b.Row.Cost
		out.Totals.Tokens += b.Row.TotalTokens
		all.Merge(&b.TTFT)
	}
	out.Totals.P50, out.Totals.P99 = quantilePtr(&all, 0.5), quantilePtr(&all, 0.99)
	writeJSON(w, http.StatusOK, out)
}

// maxReportDays bounds a spend report's date range.
const maxReportDays = 400

// reportFor reads group_by, start_date and end_date (YYYY-MM-DD, UTC days,
// both inclusive: [start 00:00, end+1 00:00); default the last 7 days) and
// totals them: by the store's own report query when it has one (limited to
// the session's key for key sessions), else from day buckets (cached once
// settled).
func (c *Console) reportFor(r *http.Request) (spend.Report, int, error) {
	v := r.URL.Query()
	by := v.Get("group_by")
	if by == "" {
		by = spend.GroupByModelGroup
	}
	if !spend.ValidGroupBy(by) {
		return spend.Report{}, 400, fmt.Errorf("group_by: unknown %q (want user, team, api_key, model_group, deployment, provider or day)", by)
	}
	today := c.o.Now().UTC().Truncate(24 * time.Hour)
	start, end := today.AddDate(0, 0, -6), today
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"start_date", &start}, {"end_date", &end}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.DateOnly, s)
			if err != nil {
				return spend.Report{}, 400, fmt.Errorf("%s: want YYYY-MM-DD, got %q", p.name, s)
			}
			*p.dst = t
		}
	}
	days := int(end.Sub(start)/(24*time.Hour)) + 1
	if days < 1 || days > maxReportDays {
		return spend.Report{}, 400, fmt.Errorf("start_date..end_date: want 1 to %d days, start not after end", maxReportDays)
	}
	ru, own := c.scope(r.Context())
	// The store's own totals serve admin and key sessions; an IdP user's
	// own view (the people rollup) reads their records.
	if _, ok := c.o.Spend.(spend.Reporter); ok && ru == c.rollup {
		rep, err := spend.Summarize(r.Context(), c.o.Spend, spend.ReportQuery{Start: start, End: end.AddDate(0, 0, 1), GroupBy: by, KeyHash: own})
		return rep, 503, err
	}
	bs, err := ru.buckets(r.Context(), own, start, 24*time.Hour, days)
	if err != nil {
		return spend.Report{}, 503, err
	}
	rep := report(bs, start, by)
	rep.Start, rep.End = start, end.AddDate(0, 0, 1)
	return rep, 200, nil
}

func (c *Console) spendReport(w http.ResponseWriter, r *http.Request) {
	rep, status, err := c.reportFor(r)
	if err != nil {
		c.reportError(w, r, status, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (c *Console) reportError(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status == 400 {
		writeError(w, 400, "invalid_request_error", err.Error())
		return
	}
	c.storeError(w, r, err)
}

// spendCSV is the spend report as CSV, one row per group and a total row.
func (c *Console) spendCSV(w http.ResponseWriter, r *http.Request) {
	rep, status, err := c.reportFor(r)
	if err != nil {
		c.reportError(w, r, status, err)
		return
	}
	name := fmt.Sprintf("spend-%s-%s-%s.csv", rep.GroupBy, rep.Start.Format(time.DateOnly), rep.End.AddDate(0, 0, -1).Format(time.DateOnly))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{rep.GroupBy, "requests", "failed_requests", "prompt_tokens", "completion_tokens",
		"cache_creation_input_tokens", "cache_read_input_tokens", "total_tokens", "spend"})
	for _, row := range append(rep.Rows, rep.Total) {
		_ = cw.Write([]string{csvCell(row.Group), itoa(row.Requests), itoa(row.FailedRequests), itoa(row.InputTokens),
			itoa(row.OutputTokens), itoa(row.CacheCreationInputTokens), itoa(row.CacheReadInputTokens), itoa(row.TotalTokens),
			strconv.FormatFloat(row.Cost, 'f', 6, 64)})
	}
	cw.Flush()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// csvCell defuses formula injection: a spreadsheet would run a key alias
// such as "=HYPERLINK(...)" as a formula.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// requestLog is /spend/logs (the same handler), limited to the session's
// own key for key sessions and to the person's own records for people.
func (c *Console) requestLog(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	if ss.Role != roleAdmin {
		q := r.URL.Query()
		if ss.Role == roleKey {
			q.Set("api_key", ss.KeyHash)
		} else {
			q.Set("user_id", ss.Email)
		}
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = q.Encode()
		r = r2
	}
	c.logs.ServeHTTP(w, r)
}

// recentRecords is how many of the newest spend records the deployments
// page looks through for recent errors.
const recentRecords = 500

type deploymentView struct {
	router.DeploymentHealth
	RecentErrors []recentError `json:"recent_errors"`
	// RecentRequests and RecentFailures count the deployment's share of the newest records.
	RecentRequests int `json:"recent_requests"`
	RecentFailures int `json:"recent_failures"`
}

type recentError struct {
	Time      time.Time `json:"time"`
	Status    int       `json:"status"`
	ErrorType string    `json:"error_type"`
	RequestID string    `json:"request_id"`
}

// maxRecentErrors is how many errors the page lists per deployment.
const maxRecentErrors = 5

func (c *Console) deployments(w http.ResponseWriter, r *http.Request) {
	v, err := c.deploymentsView(r.Context())
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// deploymentsView is the deployments page's data: each deployment's health
// with its share of the newest spend records and their errors.
func (c *Console) deploymentsView(ctx context.Context) (map[string]any, error) {
	var hs []router.DeploymentHealth
	if c.o.Health != nil {
		hs = c.o.Health(ctx)
	}
	page, err := c.o.Spend.QuerySpend(ctx, spend.Query{Limit: recentRecords})
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	out := make([]deploymentView, len(hs))
	for i, h := range hs {
		out[i] = deploymentView{DeploymentHealth: h, RecentErrors: []recentError{}}
		idx[h.ID] = i
	}
	for _, rec := range page.Records {
		i, ok := idx[rec.DeploymentID]
		if !ok {
			continue
		}
		d := &out[i]
		d.RecentRequests++
		if spend.Failed(rec.Status) {
			d.RecentFailures++
			if len(d.RecentErrors) < maxRecentErrors {
				d.RecentErrors = append(d.RecentErrors, recentError{rec.StartTime, rec.Status, rec.ErrorType, rec.CallID})
			}
		}
	}
	return map[string]any{"deployments": out, "now": c.o.Now().UTC(), "recent_window": recentRecords}, nil
}

// maxKeySpend bounds one key-spend lookup (a /key/list page is at most 100).
const maxKeySpend = 100

// keySpend answers each listed key's spend in its current budget window
// (tokens=hash,hash,...), for the keys page's budget bars.
func (c *Console) keySpend(w http.ResponseWriter, r *http.Request) {
	tokens := strings.Split(r.URL.Query().Get("tokens"), ",")
	if len(tokens) > maxKeySpend || c.o.Keys == nil {
		writeError(w, 400, "invalid_request_error", fmt.Sprintf("tokens: at most %d key hashes, comma-separated", maxKeySpend))
		return
	}
	ks, err := c.o.Keys.GetMany(r.Context(), tokens)
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	found := ks[:0]
	for _, k := range ks {
		if k != nil {
			found = append(found, k)
		}
	}
	sp, err := c.o.Keys.WindowSpend(r.Context(), found, c.o.Now())
	if err != nil {
		c.storeError(w, r, err)
		return
	}
	out := map[string]any{}
	for i, k := range found {
		out[k.Token] = map[string]any{"spend": sp[i], "max_budget": k.MaxBudget, "budget_duration": k.BudgetDuration}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (c *Console) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	c.o.Logger.Error("console: spend store", "path", r.URL.Path, "error", err)
	writeError(w, http.StatusServiceUnavailable, "api_error", "spend store unavailable; try again")
}

// writeError answers in the gateway's (Anthropic's) error shape.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
