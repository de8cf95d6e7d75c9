package keyadmin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/identity"
)

// policyRequest holds the policy fields keys, users and teams share in
// their create and update bodies (LiteLLM's names).
type policyRequest struct {
	Models              *[]string       `json:"models"`
	MaxBudget           *float64        `json:"max_budget"`
	BudgetDuration      *string         `json:"budget_duration"`
	RPMLimit            *int64          `json:"rpm_limit"`
	TPMLimit            *int64          `json:"tpm_limit"`
	MaxParallelRequests *int64          `json:"max_parallel_requests"`
	Duration            *string         `json:"duration"`
	Expires             *time.Time      `json:"expires"`
	Blocked             *bool           `json:"blocked"`
	Metadata            *map[string]any `json:"metadata"`
}

// fieldError is a refusal of one field of the body: 400 naming it.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func badField(field, format string, args ...any) error {
	return &fieldError{field, fmt.Sprintf(format, args...)}
}

// refuse answers a failed apply: 400 for a bad field, 503 for the store.
func (h *handlers) refuse(w http.ResponseWriter, err error) {
	var fe *fieldError
	if errors.As(err, &fe) {
		badRequest(w, fe.Error())
		return
	}
	h.storeError(w, err)
}

// applyPolicy validates r and writes it onto p; p is untouched on error.
func (h *handlers) applyPolicy(r *policyRequest, p *identity.Policy) error {
	next := *p
	for _, c := range []struct {
		field string
		v     *int64
	}{{"rpm_limit", r.RPMLimit}, {"tpm_limit", r.TPMLimit}, {"max_parallel_requests", r.MaxParallelRequests}} {
		if c.v != nil && *c.v < 0 {
			return badField(c.field, "must not be negative")
		}
	}
	if r.MaxBudget != nil && *r.MaxBudget < 0 {
		return badField("max_budget", "must not be negative")
	}
	if r.BudgetDuration != nil {
		if _, err := identity.ParseWindow(*r.BudgetDuration); err != nil {
			return badField("budget_duration", "%v", err)
		}
		next.BudgetDuration = *r.BudgetDuration
	}
	if r.Models != nil {
		for i, m := range *r.Models {
			if h.o.KnownModel != nil && !reservedModel(m) && !h.o.KnownModel(m) {
				return badField(fmt.Sprintf("models[%d]", i), "unknown model or access group %q", m)
			}
		}
		next.Models = append([]string{}, *r.Models...)
	}
	if r.Duration != nil && *r.Duration != "" {
		d, err := durationOf(*r.Duration)
		if err != nil {
			return badField("duration", "%v", err)
		}
		exp := h.o.Now().Add(d).UTC()
		next.Expires = &exp
	}
	if r.Expires != nil {
		exp := r.Expires.UTC()
		next.Expires = &exp
	}
	setIf(&next.Blocked, r.Blocked)
	setIf(&next.Metadata, r.Metadata)
	if r.MaxBudget != nil {
		next.MaxBudget = r.MaxBudget
	}
	if r.RPMLimit != nil {
		next.RPMLimit = r.RPMLimit
	}
	if r.TPMLimit != nil {
		next.TPMLimit = r.TPMLimit
	}
	if r.MaxParallelRequests != nil {
		next.MaxParallelRequests = r.MaxParallelRequests
	}
	*p = next
	return nil
}

// reservedModel names LiteLLM's special entries of "models".
func reservedModel(m string) bool { return m == "all-proxy-models" || m == "all-team-models" }

// durationOf turns a LiteLLM duration ("30d", "1h", "1mo" as 30 days) into a time.Duration.
func durationOf(s string) (time.Duration, error) {
	unit := strings.TrimLeft(s, "0123456789")
	n, err := strconv.Atoi(strings.TrimSuffix(s, unit))
	if err != nil || n <= 0 {
		return 0, identity.ErrBadDuration
	}
	mult := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "mo": 30 * 24 * time.Hour}[unit]
	if mult == 0 {
		return 0, identity.ErrBadDuration
	}
	return time.Duration(n) * mult, nil
}
