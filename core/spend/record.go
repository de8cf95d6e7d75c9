// Package spend turns a finished call into a spend record (usage, cost,
// outcome) and hands it to a store, off the path to the first byte.
package spend

import (
	"context"
	"time"
)

// Record is one served (or refused) request, LiteLLM-like. One per call id.
type Record struct {
	CallID         string    `json:"request_id"`
	StartTime      time.Time `json:"startTime"`
	EndTime        time.Time `json:"endTime"`
	TTFTMillis     int64     `json:"time_to_first_token_ms"`
	ModelGroup     string    `json:"model_group"`
	RequestedModel string    `json:"model"`
	DeploymentID   string    `json:"model_id"`
	Provider       string    `json:"custom_llm_provider"`
	Region         string    `json:"region"`
	APIBase        string    `json:"api_base"`
	// KeyHash is a hash of the client's key, never the key.
	KeyHash   string `json:"api_key"`
	SessionID string `json:"session_id"`
	Endpoint  string `json:"call_type"`

	InputTokens              int64   `json:"prompt_tokens"`
	OutputTokens             int64   `json:"completion_tokens"`
	CacheCreationInputTokens int64   `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64   `json:"cache_read_input_tokens"`
	Cost                     float64 `json:"spend"`

	// Status is the HTTP status the client got (200 for a stream that started).
	Status       int    `json:"status"`
	ErrorType    string `json:"error_type,omitempty"`
	Retries      int    `json:"retries"`
	Fallbacks    int    `json:"fallbacks"`
	Stream       bool   `json:"stream"`
	Disconnected bool   `json:"client_disconnected"`

	// Virtual-key labels (core/identity); empty for the master key.
	KeyAlias string `json:"key_alias,omitempty"`
	UserID   string `json:"user,omitempty"`
	TeamID   string `json:"team_id,omitempty"`
}

// Recorder accepts finished records. Record must not block on the store:
// implementations buffer, retry, and fall back to logging the record.
type Recorder interface {
	Record(ctx context.Context, r Record)
}
