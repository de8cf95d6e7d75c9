package bedrock

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

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
	out, err := p.client.CountTokens(ctx, &bedrockruntime.CountTokensInput{
		ModelId: aws.String(p.model.baseModel()),
		Input:   &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: body}},
	})
	if err == nil {
		return countResponse(int64(aws.ToInt32(out.InputTokens)), CountTokensFromProvider), nil
	}
	if !countUnsupported(err) {
		return nil, upstreamError(ctx, err)
	}
	p.log.DebugContext(ctx, "bedrock: CountTokens unavailable, answering with the local estimate", "model", p.model.baseModel(), "error", err.Error())
	return countResponse(tokencount.Estimate(req.Body), CountTokensEstimate), nil
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
