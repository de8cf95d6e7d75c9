package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// model is shaped so Anthropic and OpenAI clients both read it.
type model struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Object      string `json:"object"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
	Created     int64  `json:"created"`
	OwnedBy     string `json:"owned_by"`
	// Limits and capabilities as Anthropic's list gives them, where known.
	MaxInputTokens *int64        `json:"max_input_tokens"`
	MaxTokens      *int64        `json:"max_tokens"`
	Capabilities   *capabilities `json:"capabilities,omitempty"`
}

// supported is the Models API's {"supported": bool}.
type supported struct {
	Supported bool `json:"supported"`
}

// capabilities is the subset of the Models API's capability matrix the
// gateway knows for every Claude model it serves.
type capabilities struct {
	ImageInput supported `json:"image_input"`
	PDFInput   supported `json:"pdf_input"`
	Thinking   struct {
		Supported bool `json:"supported"`
		Types     struct {
			Enabled  supported `json:"enabled"`
			Adaptive supported `json:"adaptive"`
		} `json:"types"`
	} `json:"thinking"`
}

// modelEntries lists a group, and its 1M-context variant ("name[1m]") when
// every deployment of the group serves one (model_info.max_input_tokens of
// a million or more: the operator knows which accounts and regions have it).
func (s *Server) modelEntries(name string) []model {
	m, spec := s.modelEntry(name)
	if !spec.Context1M {
		return []model{m}
	}
	wide := m
	wide.ID += context1MTag
	wide.DisplayName += " (1M context)"
	in := int64(oneMillion)
	wide.MaxInputTokens = &in
	return []model{m, wide}
}

func (s *Server) modelEntry(name string) (model, modelSpec) {
	m := model{ID: name, Type: "model", Object: "model", DisplayName: name,
		CreatedAt: s.started.UTC().Format(time.RFC3339), Created: s.started.Unix(), OwnedBy: "claude-gateway"}
	spec, ok := groupSpec(s.router.Deployments(), name)
	if !ok {
		return m, modelSpec{}
	}
	if spec.DisplayName != "" {
		m.DisplayName = spec.DisplayName
	}
	if t, err := time.Parse(time.RFC3339, spec.Released); err == nil {
		m.CreatedAt, m.Created = spec.Released, t.Unix()
	}
	m.MaxInputTokens, m.MaxTokens = &spec.MaxInputTokens, &spec.MaxTokens
	c := &capabilities{ImageInput: supported{true}, PDFInput: supported{true}}
	c.Thinking.Supported, c.Thinking.Types.Enabled.Supported, c.Thinking.Types.Adaptive.Supported = spec.Thinking, spec.Thinking, spec.Adaptive
	m.Capabilities = c
	return m, spec
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	names := s.router.Groups()
	if cl := callerFrom(r.Context()); cl != nil {
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !cl.AllowsModel(n) })
	}
	list := struct {
		Object  string  `json:"object"`
		Data    []model `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}{Object: "list", Data: make([]model, 0, len(names))}
	for _, n := range names {
		list.Data = append(list.Data, s.modelEntries(n)...)
	}
	if n := len(list.Data); n > 0 {
		list.FirstID, list.LastID = &list.Data[0].ID, &list.Data[n-1].ID
	}
	writeJSON(w, 200, list)
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	cl := callerFrom(r.Context())
	base, _ := cut1M(id)
	for _, n := range s.router.Groups() {
		if n != base || cl != nil && !cl.AllowsModel(n) {
			continue
		}
		for _, m := range s.modelEntries(n) {
			if m.ID == id {
				writeJSON(w, 200, m)
				return
			}
		}
	}
	s.writeError(w, r, &llm.Error{Status: 404, Type: llm.ErrNotFound, Message: "model " + id + " not found"})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	states := s.router.Health(r.Context())
	healthy, unhealthy := 0, 0
	for _, st := range states {
		if st.Healthy {
			healthy++
		} else {
			unhealthy++
		}
	}
	out := map[string]any{"healthy_count": healthy, "unhealthy_count": unhealthy, "deployments": states}
	if s.opts.HealthExtra != nil {
		for k, v := range s.opts.HealthExtra(r.Context()) {
			out[k] = v
		}
	}
	writeJSON(w, 200, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
