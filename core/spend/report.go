package spend

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Report groupings.
const (
	GroupByModelGroup = "model_group"
	GroupByDeployment = "deployment"
	GroupByProvider   = "provider"
	GroupByDay        = "day"
	GroupByAPIKey     = "api_key"
	GroupByUser       = "user"
	GroupByTeam       = "team"
)

// ValidGroupBy reports whether g is a grouping Summarize understands.
func ValidGroupBy(g string) bool {
	switch g {
	case GroupByModelGroup, GroupByDeployment, GroupByProvider, GroupByDay, GroupByAPIKey, GroupByUser, GroupByTeam:
		return true
	}
	return false
}

// ReportRow is the totals of one group.
type ReportRow struct {
	Group                    string  `json:"group"`
	Requests                 int64   `json:"requests"`
	FailedRequests           int64   `json:"failed_requests"`
	InputTokens              int64   `json:"prompt_tokens"`
	OutputTokens             int64   `json:"completion_tokens"`
	CacheCreationInputTokens int64   `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64   `json:"cache_read_input_tokens"`
	TotalTokens              int64   `json:"total_tokens"`
	Cost                     float64 `json:"spend"`
}

// Failed is the rule FailedRequests counts by: an error status, or none at
// all (the call never got an answer).
func Failed(status int) bool { return status >= 400 || status == 0 }

func (row *ReportRow) add(r Record) {
	row.Requests++
	if Failed(r.Status) {
		row.FailedRequests++
	}
	row.InputTokens += r.InputTokens
	row.OutputTokens += r.OutputTokens
	row.CacheCreationInputTokens += r.CacheCreationInputTokens
	row.CacheReadInputTokens += r.CacheReadInputTokens
	row.TotalTokens += r.InputTokens + r.OutputTokens + r.CacheCreationInputTokens + r.CacheReadInputTokens
	row.Cost += r.Cost
}

// Merge adds o's totals to row (its Group is left as it is).
func (row *ReportRow) Merge(o ReportRow) {
	row.Requests += o.Requests
	row.FailedRequests += o.FailedRequests
	row.InputTokens += o.InputTokens
	row.OutputTokens += o.OutputTokens
	row.CacheCreationInputTokens += o.CacheCreationInputTokens
	row.CacheReadInputTokens += o.CacheReadInputTokens
	row.TotalTokens += o.TotalTokens
	row.Cost += o.Cost
}

// Report is the answer of /spend/report.
type Report struct {
	GroupBy string      `json:"group_by"`
	Start   time.Time   `json:"start_date,omitzero"`
	End     time.Time   `json:"end_date,omitzero"`
	Rows    []ReportRow `json:"data"`
	Total   ReportRow   `json:"total"`
}

// ReportQuery selects what a report covers.
type ReportQuery struct {
	// Start and End bound StartTime as in Query: Start <= t < End; a zero
	// bound does not limit.
	Start, End time.Time
	GroupBy    string
	// KeyHash limits the report to one client key's records (Record.KeyHash).
	KeyHash string
}

// Reporter is implemented by stores that can total spend themselves
// (cheaper than handing every record over); Summarize uses it when present.
// Its answer must equal ScanReport's for the same records (costs up to the
// order floating-point sums are taken in).
type Reporter interface {
	ReportSpend(ctx context.Context, q ReportQuery) (Report, error)
}

// reportPage is how many records Summarize reads per query while totalling.
const reportPage = MaxLimit

// Summarize totals the records between q.Start and q.End by q.GroupBy. It
// pages through the store's time index, holding one row per group and one
// page of records at a time, so memory does not grow with the record count.
func Summarize(ctx context.Context, s Store, q ReportQuery) (Report, error) {
	if !ValidGroupBy(q.GroupBy) {
		return Report{}, fmt.Errorf("spend: unknown group_by %q (want model_group, deployment, provider, day, api_key, user or team)", q.GroupBy)
	}
	if rep, ok := s.(Reporter); ok {
		return rep.ReportSpend(ctx, q)
	}
	return ScanReport(ctx, s, q)
}

// ScanReport totals q's records by paging through the store's time index (or
// key index, with KeyHash): the reference answer every Reporter must give,
// and the way for stores without one.
func ScanReport(ctx context.Context, s Store, q ReportQuery) (Report, error) {
	if !ValidGroupBy(q.GroupBy) {
		return Report{}, fmt.Errorf("spend: unknown group_by %q (want model_group, deployment, provider, day, api_key, user or team)", q.GroupBy)
	}
	acc := NewAccumulator(q)
	if err := scan(ctx, s, Query{Start: q.Start, End: q.End, KeyHash: q.KeyHash}, acc.Add); err != nil {
		return Report{}, err
	}
	return acc.Report(), nil
}

// Accumulator totals records into report rows.
type Accumulator struct {
	q    ReportQuery
	rows map[string]*ReportRow
	tot  ReportRow
}

// NewAccumulator starts an empty report for q.
func NewAccumulator(q ReportQuery) *Accumulator {
	return &Accumulator{q: q, rows: map[string]*ReportRow{}}
}

// Add counts one record.
func (a *Accumulator) Add(r Record) {
	k := groupKey(r, a.q.GroupBy)
	row := a.rows[k]
	if row == nil {
		row = &ReportRow{Group: k}
		a.rows[k] = row
	}
	row.add(r)
	a.tot.add(r)
}

// AddRow counts a row already totalled (of records in group), as a store
// that keeps totals hands them over.
func (a *Accumulator) AddRow(group string, r ReportRow) {
	row := a.rows[group]
	if row == nil {
		row = &ReportRow{Group: group}
		a.rows[group] = row
	}
	row.Merge(r)
	a.tot.Merge(r)
}

// Report returns the rows sorted by group (days ascending, names A-Z).
func (a *Accumulator) Report() Report {
	out := Report{GroupBy: a.q.GroupBy, Start: a.q.Start, End: a.q.End, Rows: make([]ReportRow, 0, len(a.rows)), Total: a.tot}
	out.Total.Group = "total"
	for _, r := range a.rows {
		out.Rows = append(out.Rows, *r)
	}
	sort.Slice(out.Rows, func(i, j int) bool { return out.Rows[i].Group < out.Rows[j].Group })
	return out
}

func groupKey(r Record, by string) string {
	switch by {
	case GroupByModelGroup:
		return r.ModelGroup
	case GroupByDeployment:
		return r.DeploymentID
	case GroupByProvider:
		return r.Provider
	case GroupByDay:
		return r.StartTime.UTC().Format(time.DateOnly)
	case GroupByAPIKey:
		return r.KeyHash
	case GroupByUser:
		return r.UserID
	case GroupByTeam:
		return r.TeamID
	}
	return ""
}
