package router

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// errClass is LiteLLM's exception family of a failure; retry_policy and
// allowed_fails_policy are keyed by it.
type errClass int

const (
	classInternal      errClass = iota // 5xx, 404, transport errors, broken streams
	classRateLimit                     // 429, 529 overloaded
	classTimeout                       // 408, 504, attempt timeouts
	classAuth                          // 401, 403
	classBadRequest                    // 400, 413, 422 and other 4xx
	classContentPolicy                 // a 400 naming a content policy or filter
	classCanceled                      // the client went away: nobody's fault
)

// Names used in retry_policy (…Retries) and allowed_fails_policy (…AllowedFails).
var classNames = [...]string{
	classInternal:      "InternalServerError",
	classRateLimit:     "RateLimitError",
	classTimeout:       "TimeoutError",
	classAuth:          "AuthenticationError",
	classBadRequest:    "BadRequestError",
	classContentPolicy: "ContentPolicyViolationError",
	classCanceled:      "",
}

func (c errClass) String() string { return classNames[c] }

// failure is one failed attempt, classified.
type failure struct {
	err        *llm.Error
	class      errClass
	status     int
	retryAfter time.Duration
	// contextWindow marks a request too long for the deployment.
	contextWindow bool
	// transport marks a failure with no HTTP answer (connection refused, reset).
	transport bool
	// notFound marks a 404: the deployment's model or region is wrong (the
	// router chose the model, not the client), so another deployment may work.
	notFound bool
}

// errAttemptTimeout is the cause set when an attempt's own timer fires.
var errAttemptTimeout = errors.New("attempt timed out")

// classify turns any attempt error into a failure. ctx is the caller's
// context (to tell a client cancel from our own attempt timeout).
func classify(ctx context.Context, err error, timedOut bool) failure {
	if timedOut {
		le := &llm.Error{Status: 504, Type: llm.ErrTimeout, Message: "upstream did not answer in time", Retryable: true, Cause: err}
		return failure{err: le, class: classTimeout, status: 504}
	}
	if ctx.Err() != nil {
		le := &llm.Error{Status: 499, Type: llm.ErrAPI, Message: "request canceled", Cause: err}
		return failure{err: le, class: classCanceled, status: 499}
	}
	var le *llm.Error
	if !errors.As(err, &le) {
		if errors.Is(err, context.DeadlineExceeded) {
			le = &llm.Error{Status: 504, Type: llm.ErrTimeout, Message: "upstream timed out", Retryable: true, Cause: err}
			return failure{err: le, class: classTimeout, status: 504}
		}
		le = &llm.Error{Status: 502, Type: llm.ErrAPI, Message: "upstream request failed", Retryable: true, Cause: err}
		return failure{err: le, class: classInternal, status: 502, transport: true}
	}
	f := failure{err: le, status: le.Status, retryAfter: le.RetryAfter}
	switch s := le.Status; {
	case s == 429 || s == 529 || le.Type == llm.ErrOverloaded || le.Type == llm.ErrRateLimit:
		// 529 is capacity, not a bug: the same family as a rate limit.
		f.class = classRateLimit
	case s == 408 || s == 504 || le.Type == llm.ErrTimeout:
		f.class = classTimeout
	case s == 401 || s == 403:
		f.class = classAuth
	case s == 404:
		f.class, f.notFound = classInternal, true
	case s >= 500 || s == 0:
		f.class = classInternal
	case s >= 400:
		msg := strings.ToLower(le.Message + " " + string(le.Body))
		switch {
		case isContextWindowMessage(msg):
			f.class, f.contextWindow = classBadRequest, true
		case strings.Contains(msg, "content policy") || strings.Contains(msg, "content filter") ||
			strings.Contains(msg, "output blocked"):
			f.class = classContentPolicy
		default:
			f.class = classBadRequest
		}
	default:
		f.class = classInternal
	}
	return f
}

// isContextWindowMessage recognises the providers' "prompt too long" errors
// (Anthropic, Bedrock, Vertex word them differently).
func isContextWindowMessage(msg string) bool {
	for _, s := range []string{"prompt is too long", "input is too long", "too many input tokens",
		"context window", "context length", "maximum context", "exceeds the maximum number of tokens"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// retryable says whether trying again (here or elsewhere) may help by
// default. Client errors (400, 413, 422, ...) are not retried: the request
// itself is wrong and would fail everywhere.
func (f failure) retryable() bool {
	switch f.class {
	case classCanceled, classBadRequest, classContentPolicy:
		return false
	case classAuth:
		return true // another deployment's credentials may work
	}
	return f.err.Retryable || f.class == classTimeout || f.class == classRateLimit || f.transport || f.notFound
}

// retryBudget is how many retries a failure of this class allows: the
// retry_policy entry for its class, else num_retries for retryable classes.
func (r *Router) retryBudget(f failure) int {
	if n, ok := r.settings.RetryPolicy[f.class.String()+"Retries"]; ok && f.class != classCanceled {
		return n
	}
	if f.class == classInternal {
		// Older LiteLLM docs spell it without "Error".
		if n, ok := r.settings.RetryPolicy["InternalServerRetries"]; ok {
			return n
		}
	}
	if !f.retryable() {
		return 0
	}
	return r.retries
}

// defaultAllowedFails is LiteLLM's litellm.allowed_fails: failures per
// minute tolerated before a cooldown, for failures that do not cool down
// at once.
const defaultAllowedFails = 3

// cooldownFor decides whether a failure on m cools it down, and for how long.
// fails is the deployment's failure count in the current minute (this one
// included). Rules, in order:
//   - cooldown_time: 0 disables cooldowns; client errors and cancels never cool.
//   - a group with one deployment is never cooled down (LiteLLM does the
//     same): there is nowhere else to go, so the request retries it instead.
//   - a 429 with retry-after cools for that long (capped at maxCooldown).
//   - allowed_fails_policy[<Class>AllowedFails] if set, else allowed_fails if
//     set, else 0 for rate limits, overload, 5xx and auth failures (cool at
//     once) and 3 for the rest (timeouts, connection errors): cool when the
//     minute's failures exceed it.
func (r *Router) cooldownFor(m *member, f failure, fails int64) (time.Duration, bool) {
	if r.cooldown <= 0 || f.class == classCanceled || len(m.group.members) < 2 {
		return 0, false
	}
	allowed, explicit := r.allowedFails(f)
	if (f.class == classBadRequest || f.class == classContentPolicy) && !explicit {
		return 0, false
	}
	if f.class == classRateLimit && f.retryAfter > 0 {
		return min(max(f.retryAfter, time.Second), maxCooldown), true
	}
	if fails <= int64(allowed) {
		return 0, false
	}
	return r.cooldown, true
}

// maxCooldown caps an upstream-given retry-after so one odd header cannot
// sideline a deployment for hours.
const maxCooldown = 10 * time.Minute

// allowedFails returns the tolerated failures per minute for f's class and
// whether the config set it.
func (r *Router) allowedFails(f failure) (int, bool) {
	if n, ok := r.settings.AllowedFailsPolicy[f.class.String()+"AllowedFails"]; ok {
		return n, true
	}
	if r.allowedFailsSet {
		return r.settings.AllowedFails, true
	}
	switch {
	case f.transport:
		return defaultAllowedFails, false
	case f.class == classRateLimit || f.class == classInternal || f.class == classAuth:
		return 0, false
	}
	return defaultAllowedFails, false
}

// Backoff before retrying a deployment already tried for this request:
// exponential from backoffBase (router_settings.retry_after if set), capped,
// with jitter so synchronized clients spread out. Moving to a different
// deployment does not wait, as in LiteLLM.
const (
	backoffBase = 500 * time.Millisecond
	backoffCap  = 8 * time.Second
	// maxRetryWait caps an upstream retry-after the router will wait out
	// inside one request; longer ones end the request with that retry-after
	// for the client to honour.
	maxRetryWait = 30 * time.Second
)

// backoff returns the wait before retry number n (1-based) on the same
// deployment, honouring the upstream's retry-after; ok is false when the
// upstream asks for a wait longer than the router will hold a request.
func (r *Router) backoff(n int, retryAfter time.Duration, rnd randSource) (time.Duration, bool) {
	if retryAfter > maxRetryWait {
		return 0, false
	}
	base := backoffBase
	if r.settings.RetryAfter > 0 {
		base = r.settings.RetryAfter
	}
	d := base << min(n-1, 10)
	d = min(d, max(backoffCap, base))
	// Jitter in [d/2, d].
	d = d/2 + time.Duration(rnd.Float64()*float64(d/2))
	return max(d, retryAfter), true
}
