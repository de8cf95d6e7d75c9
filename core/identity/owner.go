package identity

import "time"

// Policy is what keys, users and teams share: model access, limits, a
// budget with its window, expiry and blocking (LiteLLM's field names). A key's
// effective policy is the narrowest of its own, its user's and its team's
// (see Caller.Begin).
type Policy struct {
	Models              []string       `json:"models"`
	MaxBudget           *float64       `json:"max_budget"`
	BudgetDuration      string         `json:"budget_duration,omitempty"`
	RPMLimit            *int64         `json:"rpm_limit"`
	TPMLimit            *int64         `json:"tpm_limit"`
	MaxParallelRequests *int64         `json:"max_parallel_requests"`
	Expires             *time.Time     `json:"expires"`
	Blocked             bool           `json:"blocked"`
	Metadata            map[string]any `json:"metadata"`
}

// Policy returns the key's policy fields.
func (k *Key) Policy() Policy {
	return Policy{Models: k.Models, MaxBudget: k.MaxBudget, BudgetDuration: k.BudgetDuration, RPMLimit: k.RPMLimit,
		TPMLimit: k.TPMLimit, MaxParallelRequests: k.MaxParallelRequests, Expires: k.Expires, Blocked: k.Blocked, Metadata: k.Metadata}
}

// SetPolicy writes p onto the key's policy fields.
func (k *Key) SetPolicy(p Policy) {
	k.Models, k.MaxBudget, k.BudgetDuration, k.RPMLimit = p.Models, p.MaxBudget, p.BudgetDuration, p.RPMLimit
	k.TPMLimit, k.MaxParallelRequests, k.Expires, k.Blocked, k.Metadata = p.TPMLimit, p.MaxParallelRequests, p.Expires, p.Blocked, p.Metadata
}

// Expired reports whether the policy's expiry has passed at now.
func (p *Policy) Expired(now time.Time) bool { return p.Expires != nil && !now.Before(*p.Expires) }

// User is LiteLLM's internal user: a person whose keys share the user's
// policy and budget.
type User struct {
	UserID    string   `json:"user_id"`
	UserAlias string   `json:"user_alias,omitempty"`
	UserEmail string   `json:"user_email,omitempty"`
	UserRole  string   `json:"user_role"`
	Teams     []string `json:"teams"`
	Policy
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Team is LiteLLM's team: its members' keys share the team's policy and budget.
type Team struct {
	TeamID           string   `json:"team_id"`
	TeamAlias        string   `json:"team_alias,omitempty"`
	MembersWithRoles []Member `json:"members_with_roles"`
	Policy
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Member is one entry of a team's members_with_roles.
type Member struct {
	Role      string `json:"role"` // "admin" or "user"
	UserID    string `json:"user_id,omitempty"`
	UserEmail string `json:"user_email,omitempty"`
}

// Default user role, as LiteLLM.
const RoleInternalUser = "internal_user"
