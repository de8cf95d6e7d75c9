package bedrock

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/tokencount"
)

// CountTokensSourceHeader tells the client where an input_tokens count came
// from: CountTokensFromProvider (Bedrock's CountTokens) or
// CountTokensEstimate (the gateway's local estimate).
const (
	CountTokensSourceHeader = "x-litellm-count-tokens-source"
	CountTokensFromProvider = "provider"
	CountTokensEstimate     = "estimate"
)

// countTokens asks Bedrock's CountTokens for the base model behind the
// deployment (an inference profile's prefix removed). Where the model, the
// region or the role's permissions do not allow it, the answer is the local
// estimate, labelled as such; transient failures stay errors the router can
// retry elsewhere.
func (p *Provider) countTokens(ctx context.Context, req *llm.Request, body []byte) (*llm.Response, error) {
	n, err := p.askCountTokens(ctx, body)
	if err == nil {
		return countResponse(n, CountTokensFromProvider), nil
	}
	if !countUnsupported(err) {
		return nil, upstreamError(ctx, err)
	}
	p.log.DebugContext(ctx, "bedrock: CountTokens unavailable, answering with the local estimate", "model", p.model.baseModel(), "error", err.Error())
	return countResponse(tokencount.Estimate(req.Body), CountTokensEstimate), nil
}

// askCountTokens sends CountTokens: the InvokeModel body, base64 in
// {"input":{"invokeModel":{"body":...}}}; the answer is {"inputTokens":n}.
func (p *Provider) askCountTokens(ctx context.Context, body []byte) (int64, error) {
	in := make([]byte, 0, base64.StdEncoding.EncodedLen(len(body))+40)
	in = append(in, `{"input":{"invokeModel":{"body":"`...)
	in = base64.StdEncoding.AppendEncode(in, body)
	in = append(in, `"}}}`...)
	resp, err := p.call(ctx, opCountTokens, p.model.baseModel(), in, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxShortAnswer))
	if err != nil {
		return 0, err
	}
	n := gjson.GetBytes(out, "inputTokens")
	if n.Type != gjson.Number {
		return 0, &llm.Error{Status: http.StatusBadGateway, Type: llm.ErrAPI, Retryable: true,
			Message: "bedrock CountTokens answered without inputTokens"}
	}
	return n.Int(), nil
}

// countUnsupported reports whether err says CountTokens cannot serve this
// model here at all (as opposed to a transient failure).
func countUnsupported(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ResourceNotFoundException", "AccessDeniedException", "UnknownOperationException":
			return true
		case "ValidationException":
			// Only about the model or the operation; a malformed body stays a 400.
			m := strings.ToLower(api.ErrorMessage())
			return strings.Contains(m, "support") || strings.Contains(m, "model identifier") || strings.Contains(m, "count")
		}
	}
	var status interface{ HTTPStatusCode() int }
	return errors.As(err, &status) && status.HTTPStatusCode() == http.StatusNotFound
}

func countResponse(n int64, source string) *llm.Response {
	return &llm.Response{
		Status: http.StatusOK,
		Header: http.Header{http.CanonicalHeaderKey(CountTokensSourceHeader): {source}},
		Body:   []byte(`{"input_tokens":` + strconv.FormatInt(n, 10) + `}`),
	}
}
