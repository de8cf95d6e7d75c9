package server

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/openai"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/tidwall/gjson"
)

// handleChat serves POST /v1/chat/completions: the OpenAI request is
// translated to an Anthropic one at the edge, routed exactly like
// /v1/messages (same groups, limits, retries, spend records), and the answer
// translated back. Every error is in OpenAI's shape.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request, cl Caller) {
	r = s.observe(r)
	c := newCall(r)
	c.key = cl
	defer s.finish(r, c)
	w.Header().Set("x-litellm-call-id", c.id)

	body, lerr := s.readBody(w, r)
	if lerr != nil {
		c.fail(lerr)
		s.writeError(w, r, lerr)
		return
	}
	if lerr = unambiguousChat(body); lerr != nil {
		c.fail(lerr)
		s.writeError(w, r, lerr)
		return
	}
	tr, oerr := openai.Options{Thinking: s.thinkingForm(body)}.TranslateRequest(body)
	if oerr != nil {
		c.status, c.errType = oerr.Status, oerr.Type
		writeOpenAI(w, oerr)
		return
	}
	c.req, lerr = parseMessagesRequest(tr.Body, llm.KindMessages, r.Header)
	if lerr != nil {
		c.fail(lerr)
		s.writeError(w, r, lerr)
		return
	}
	c.req.CallID = c.id

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	res, ok := s.route(ctx, w, r, c)
	if !ok {
		return
	}
	if res.Stream != nil {
		enc := &openAIStream{tr: openai.NewStreamTranslator(openai.StreamOptions{Model: tr.Model, IncludeUsage: tr.IncludeUsage})}
		s.writeStream(ctx, w, c, res.Stream, enc)
		return
	}
	s.writeChatResponse(w, c, res.Response, tr.Model)
}

// unambiguousChat refuses an OpenAI body that readers could disagree on
// (see ambiguousBody and keySet) before it is translated, since the
// translation keeps one reading. Malformed JSON is left to the translator.
func unambiguousChat(body []byte) *llm.Error {
	msg := ambiguousBody(body)
	if msg == "" && gjson.ValidBytes(body) {
		if k, dup := duplicateKey(gjson.ParseBytes(body)); dup {
			msg = keyName(k) + ": key given more than once in the request body"
		}
	}
	if msg == "" {
		return nil
	}
	return &llm.Error{Status: 400, Type: llm.ErrInvalidRequest, Message: msg}
}

func (s *Server) writeChatResponse(w http.ResponseWriter, c *call, resp *llm.Response, model string) {
	c.usage = llm.FromBody(resp.Body)
	out, err := openai.TranslateResponse(resp.Body, model)
	if err != nil {
		e := &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "cannot translate upstream answer: " + err.Error()}
		c.fail(e)
		writeOpenAIError(w, e)
		return
	}
	s.setCostHeader(w.Header(), c)
	w.Header().Set("Content-Type", "application/json")
	c.status = 200
	c.ttfb = time.Since(c.start)
	w.WriteHeader(200)
	if _, err := w.Write(out); err != nil {
		c.gone = true
	}
}

// openAIStream encodes Anthropic events as chat.completion.chunk lines.
type openAIStream struct{ tr *openai.StreamTranslator }

var openAIPing = []byte(": ping\n\n")

func (o *openAIStream) event(dst []byte, ev llm.Event) []byte { return o.tr.Event(ev, dst) }
func (o *openAIStream) end(dst []byte) []byte                 { return o.tr.Finish(dst) }
func (o *openAIStream) ping() []byte                          { return openAIPing }
func (o *openAIStream) contentType() string                   { return "text/event-stream; charset=utf-8" }
func (o *openAIStream) fail(dst []byte, e *llm.Error) []byte {
	return openai.FromLLM(e).AppendSSE(dst)
}

func writeOpenAI(w http.ResponseWriter, e *openai.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(clientStatus(e.Status))
	w.Write(e.JSON())
}

// thinkingForm decides how reasoning_effort is expressed for the model
// group the request names. The client's model name is usually an alias
// ("claude-opus") that says nothing of the Claude version behind it, and
// Claude Opus 4.7 and later reject thinking budgets while models before 4.6
// reject adaptive thinking: so the form follows the group's deployments
// when they all agree, and the model name only when they do not (or name
// no version, as wildcard deployments passing the name through).
func (s *Server) thinkingForm(body []byte) openai.ThinkingForm {
	if len(s.thinkingForms) == 0 || !bytes.Contains(body, []byte("reasoning_effort")) {
		return openai.ThinkingAuto
	}
	model := gjson.GetBytes(body, "model").Str
	if g, ok := s.router.Resolve(model); ok {
		return s.thinkingForms[g]
	}
	return openai.ThinkingAuto
}

// thinkingForms maps each model group to the thinking form all its
// deployments take (ThinkingAuto when they differ or cannot tell).
func thinkingForms(rt *router.Router) map[string]openai.ThinkingForm {
	if rt == nil {
		return nil
	}
	forms := map[string]openai.ThinkingForm{}
	for _, d := range rt.Deployments() {
		g, up := d.Config.ModelName, d.Config.Params.UpstreamModel
		f := openai.ThinkingBudget
		if openai.UsesAdaptiveThinking(up) {
			f = openai.ThinkingAdaptive
		}
		if strings.Contains(up, "*") {
			f = openai.ThinkingAuto
		}
		if prev, seen := forms[g]; seen && prev != f {
			f = openai.ThinkingAuto
		}
		forms[g] = f
	}
	return forms
}
