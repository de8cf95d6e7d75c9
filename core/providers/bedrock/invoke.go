package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

// The bedrock-runtime operations the invoke API uses, as path suffixes of
// POST /model/{modelId}/... (the REST-JSON binding the AWS SDKs send).
const (
	opInvoke       = "invoke"
	opInvokeStream = "invoke-with-response-stream"
	opCountTokens  = "count-tokens"
)

// maxShortAnswer bounds how much of an error answer (or of CountTokens' small
// answer) is read.
const maxShortAnswer = 1 << 20

// authorizer authorizes one deployment's calls: a Bedrock API key as a
// Bearer token (as x-api-key for bedrock-mantle), or SigV4 with the
// deployment's credentials for service and region. Credentials come from
// the deployment's cache, so a call signs without a network round trip
// except when they are due for refresh.
type authorizer struct {
	a         auth
	signer    *v4.Signer
	service   string
	region    string
	keyHeader bool
}

func newAuthorizer(a auth, service string, keyHeader bool) authorizer {
	return authorizer{a: a, signer: v4.NewSigner(), service: service, region: a.cfg.Region, keyHeader: keyHeader}
}

func (z *authorizer) authorize(ctx context.Context, r *http.Request, body []byte) error {
	switch {
	case z.a.bearer != "" && z.keyHeader:
		r.Header.Set("x-api-key", z.a.bearer)
		return nil
	case z.a.bearer != "":
		r.Header.Set("Authorization", "Bearer "+z.a.bearer)
		return nil
	case z.a.cfg.Credentials == nil:
		return &llm.Error{Status: 500, Type: llm.ErrAPI, Retryable: true, Message: "bedrock: no AWS credentials for this deployment"}
	}
	creds, err := z.a.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return upstreamError(ctx, &credentialsError{Err: err})
	}
	sum := sha256.Sum256(body)
	return z.signer.SignHTTP(ctx, creds, r, hex.EncodeToString(sum[:]), z.service, z.region, time.Now())
}

// call sends POST {endpoint}/model/{modelID}/{op} with a JSON body. The
// model id is one path segment, escaped as the AWS SDKs escape it (an
// inference profile ARN's ':' and '/' included); the signer escapes the
// path once more for the canonical request, as SigV4 asks of every service
// but S3. A 2xx answer is returned open; any other is read and typed
// (apiError); a failure to reach Bedrock is an error for upstreamError.
func (p *Provider) call(ctx context.Context, op, modelID string, body []byte, accept string) (*http.Response, error) {
	u := *p.base
	u.Path = p.base.Path + "/model/" + modelID + "/" + op
	u.RawPath = p.base.EscapedPath() + "/model/" + httpbinding.EscapePath(modelID, true) + "/" + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, &llm.Error{Status: 500, Type: llm.ErrAPI, Message: "bedrock: building request", Cause: err}
	}
	req.Header.Set("Content-Type", "application/json")
	switch op {
	case opInvoke:
		req.Header.Set("Accept", accept)
	case opInvokeStream:
		req.Header.Set("X-Amzn-Bedrock-Accept", accept)
	}
	if err := p.auth.authorize(ctx, req, body); err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxShortAnswer))
	return nil, newAPIError(resp.StatusCode, resp.Header, data)
}

// apiError is an error answer of bedrock-runtime in AWS's REST-JSON shape:
// the exception's name in X-Amzn-ErrorType (or the body's __type or code),
// its message in the body. It is a smithy.APIError, as the SDK's are.
type apiError struct {
	status  int
	code    string
	message string
	// originalStatus is a ModelErrorException's originalStatusCode: the
	// status the model itself answered with.
	originalStatus int
	header         http.Header
}

func newAPIError(status int, h http.Header, body []byte) *apiError {
	e := &apiError{status: status, header: h}
	e.code = errorCode(firstNonEmpty(h.Get("X-Amzn-Errortype"),
		gjson.GetBytes(body, "__type").Str, gjson.GetBytes(body, "code").Str))
	e.message = firstNonEmpty(gjson.GetBytes(body, "message").Str, gjson.GetBytes(body, "Message").Str,
		gjson.GetBytes(body, "errorMessage").Str)
	e.originalStatus = int(gjson.GetBytes(body, "originalStatusCode").Int())
	return e
}

// errorCode is the bare exception name of an X-Amzn-ErrorType or __type
// value ("ns#ThrottlingException:http://internal..." -> "ThrottlingException").
func errorCode(v string) string {
	v, _, _ = strings.Cut(v, ":")
	if i := strings.LastIndexByte(v, '#'); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

func (e *apiError) Error() string {
	return "bedrock: " + http.StatusText(e.status) + ": " + firstNonEmpty(e.code, "error") + ": " + e.message
}

// ErrorCode, ErrorMessage and ErrorFault implement smithy.APIError.
func (e *apiError) ErrorCode() string    { return e.code }
func (e *apiError) ErrorMessage() string { return e.message }
func (e *apiError) ErrorFault() smithy.ErrorFault {
	if e.status >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// HTTPStatusCode is the answer's status.
func (e *apiError) HTTPStatusCode() int { return e.status }

// runtimeEndpoint is the bedrock-runtime base URL of a deployment, chosen as
// the SDK's client chooses it: the deployment's own endpoint; else a
// configured one (AWS_ENDPOINT_URL_BEDROCK_RUNTIME, a profile's services
// section, AWS_ENDPOINT_URL or endpoint_url; not with
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS); else the regional endpoint, FIPS
// and dual-stack as configured (AWS_USE_FIPS_ENDPOINT,
// AWS_USE_DUALSTACK_ENDPOINT or the profile's settings).
func runtimeEndpoint(ctx context.Context, cfg aws.Config, own string) (*url.URL, error) {
	base, from := own, "api_base (or aws_bedrock_runtime_endpoint)"
	if base == "" {
		base, from = configuredEndpoint(ctx, cfg), "the configured AWS endpoint (AWS_ENDPOINT_URL_BEDROCK_RUNTIME, AWS_ENDPOINT_URL or the profile)"
	}
	if base == "" {
		fips, dual := endpointVariants(ctx, cfg)
		host, err := regionalHost(cfg.Region, fips, dual)
		if err != nil {
			return nil, err
		}
		base = "https://" + host
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("bedrock: %s %q: want an http(s) URL", from, base)
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// endpointVariants reads whether FIPS and dual-stack endpoints are asked
// for: each from the first config source that sets it (the environment
// before the shared config, as the SDK reads them).
func endpointVariants(ctx context.Context, cfg aws.Config) (fips, dual bool) {
	var fipsSet, dualSet bool
	for _, src := range cfg.ConfigSources {
		if s, ok := src.(interface {
			GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error)
		}); ok && !fipsSet {
			if v, found, err := s.GetUseFIPSEndpoint(ctx); found && err == nil {
				fips, fipsSet = v == aws.FIPSEndpointStateEnabled, true
			}
		}
		if s, ok := src.(interface {
			GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error)
		}); ok && !dualSet {
			if v, found, err := s.GetUseDualStackEndpoint(ctx); found && err == nil {
				dual, dualSet = v == aws.DualStackEndpointStateEnabled, true
			}
		}
	}
	return fips, dual
}

// bedrockRuntimeSDKID is the service's name in AWS's endpoint settings.
const bedrockRuntimeSDKID = "Bedrock Runtime"

// configuredEndpoint applies the SDK's order: a service-specific endpoint
// over the general one, except that a general AWS_ENDPOINT_URL is not
// overridden by a profile's services section when
// AWS_ENDPOINT_URL_BEDROCK_RUNTIME is unset.
func configuredEndpoint(ctx context.Context, cfg aws.Config) string {
	for _, src := range cfg.ConfigSources {
		if s, ok := src.(interface {
			GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error)
		}); ok {
			if v, found, _ := s.GetIgnoreConfiguredEndpoints(ctx); found && v {
				return ""
			}
		}
	}
	general := aws.ToString(cfg.BaseEndpoint)
	if _, g := os.LookupEnv("AWS_ENDPOINT_URL"); g {
		if _, s := os.LookupEnv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"); !s {
			return general
		}
	}
	for _, src := range cfg.ConfigSources {
		if s, ok := src.(interface {
			GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
		}); ok {
			if v, found, err := s.GetServiceBaseEndpoint(ctx, bedrockRuntimeSDKID); found && err == nil && v != "" {
				return v
			}
		}
	}
	return general
}

// regionalHost is bedrock-runtime's host in region's partition.
func regionalHost(region string, fips, dual bool) (string, error) {
	if !validRegion(region) {
		return "", fmt.Errorf("bedrock: region %q (aws_region_name, the model's ARN or AWS_REGION) is not an AWS region name", region)
	}
	suffix, dualSuffix := partitionSuffixes(region)
	name := "bedrock-runtime"
	if fips {
		name += "-fips"
	}
	if dual {
		return name + "." + region + "." + dualSuffix, nil
	}
	return name + "." + region + "." + suffix, nil
}

// partitionSuffixes are a region's DNS suffixes (plain, dual-stack), from
// the AWS partitions table the SDK's endpoint rules use.
func partitionSuffixes(region string) (string, string) {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "amazonaws.com.cn", "api.amazonwebservices.com.cn"
	case strings.HasPrefix(region, "us-isob-"):
		return "sc2s.sgov.gov", "api.aws.scloud"
	case strings.HasPrefix(region, "us-isof-"):
		return "csp.hci.ic.gov", "api.aws.hci.ic.gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "c2s.ic.gov", "api.aws.ic.gov"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"
	case strings.HasPrefix(region, "eusc-"):
		return "amazonaws.eu", "api.amazonwebservices.eu"
	}
	return "amazonaws.com", "api.aws" // aws and aws-us-gov
}

// validRegion: a region is one DNS label (it becomes part of the host).
func validRegion(r string) bool {
	if r == "" || len(r) > 63 || r[0] == '-' || r[len(r)-1] == '-' {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
