// Package awsconfigsource reads the gateway's config and master key from AWS
// Systems Manager Parameter Store and AWS Secrets Manager. It is the only
// package that calls those two services; core/configsource decides when it
// is needed, so a start from a plain file never builds it.
//
// It makes the two calls it needs (ssm:GetParameter and
// secretsmanager:GetSecretValue, AWS JSON 1.1) itself, signed by the SDK's
// SigV4 signer with the SDK's default credential chain and region, instead
// of linking the generated SSM and Secrets Manager clients: their schema
// tables are built at package initialisation, in every process that links
// them (~1.5 MB of heap and 5-9 ms of every cold start on these machines,
// whether or not a parameter is ever read).
package awsconfigsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Source implements configsource.Fetcher.
type Source struct {
	cfg    aws.Config
	client aws.HTTPClient
	signer *v4.Signer
}

// New builds a Source from the default AWS configuration (on Lambda: the
// function role's credentials and AWS_REGION from the environment; the
// standard AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL_SECRETS_MANAGER /
// AWS_ENDPOINT_URL overrides and AWS_USE_FIPS_ENDPOINT apply). It makes no
// network call.
func New(ctx context.Context) (*Source, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(cfg), nil
}

// NewFromConfig builds a Source from an aws.Config (its Region,
// Credentials, BaseEndpoint, HTTPClient and ConfigSources are used).
func NewFromConfig(cfg aws.Config) *Source {
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Source{cfg: cfg, client: client, signer: v4.NewSigner()}
}

// service is one of the two AWS services Source calls.
type service struct {
	sdkID       string // the SDK's service ID: AWS_ENDPOINT_URL_<ID> and the shared config's services section
	signingName string // SigV4's service name and the endpoint's first label
	targetPre   string // X-Amz-Target's prefix
}

var (
	ssmService     = service{sdkID: "SSM", signingName: "ssm", targetPre: "AmazonSSM."}
	secretsService = service{sdkID: "Secrets Manager", signingName: "secretsmanager", targetPre: "secretsmanager."}
)

// Parameter returns the value of an SSM parameter, decrypting a SecureString.
func (s *Source) Parameter(ctx context.Context, name string) (string, error) {
	var out struct {
		Parameter *struct{ Value *string }
	}
	in := map[string]any{"Name": name, "WithDecryption": true}
	if err := s.call(ctx, ssmService, "GetParameter", in, &out); err != nil {
		return "", err
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", errors.New("ssm: parameter has no value")
	}
	return *out.Parameter.Value, nil
}

// Secret returns a secret's current string value (name or ARN).
func (s *Source) Secret(ctx context.Context, id string) (string, error) {
	var out struct {
		SecretString *string
		SecretBinary []byte // base64 in JSON
	}
	if err := s.call(ctx, secretsService, "GetSecretValue", map[string]any{"SecretId": id}, &out); err != nil {
		return "", err
	}
	switch {
	case out.SecretString != nil:
		return *out.SecretString, nil
	case out.SecretBinary != nil:
		return string(out.SecretBinary), nil
	}
	return "", fmt.Errorf("secretsmanager: secret has no value")
}

// maxAttempts matches the SDK's standard retryer: throttling, 5xx and
// connection errors are retried with backoff, anything else is final.
const maxAttempts = 3

// maxResponse bounds a response body (a secret is at most 64 KiB).
const maxResponse = 1 << 20

// call sends one JSON 1.1 operation, retrying what the SDK would retry.
func (s *Source) call(ctx context.Context, svc service, op string, in, out any) error {
	if s.cfg.Region == "" {
		return fmt.Errorf("%s %s: no AWS region (set AWS_REGION)", svc.signingName, op)
	}
	if s.cfg.Credentials == nil {
		return fmt.Errorf("%s %s: no AWS credentials", svc.signingName, op)
	}
	endpoint, err := s.endpoint(ctx, svc)
	if err != nil {
		return err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var last error
	for attempt := range maxAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(last, ctx.Err())
			case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
			}
		}
		var retry bool
		retry, last = s.send(ctx, svc, op, endpoint, body, out)
		if !retry {
			return last
		}
	}
	return last
}

// send makes one attempt; retry says whether another may succeed.
func (s *Source) send(ctx context.Context, svc service, op, endpoint string, body []byte, out any) (retry bool, err error) {
	creds, err := s.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return false, fmt.Errorf("%s %s: credentials: %w", svc.signingName, op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", svc.targetPre+op)
	sum := sha256.Sum256(body)
	if err := s.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), svc.signingName, s.cfg.Region, time.Now().UTC()); err != nil {
		return false, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("%s %s: %w", svc.signingName, op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return true, fmt.Errorf("%s %s: reading the answer: %w", svc.signingName, op, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := parseError(resp, b)
		return resp.StatusCode >= 500 || resp.StatusCode == 429 || throttling[e.code],
			fmt.Errorf("%s %s: %s", svc.signingName, op, e)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return false, fmt.Errorf("%s %s: decoding the answer: %w", svc.signingName, op, err)
	}
	return false, nil
}

// throttling are the error codes the SDK's standard retryer retries.
var throttling = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestThrottledException": true,
	"TooManyRequestsException": true, "ProvisionedThroughputExceededException": true, "TransactionInProgressException": true,
	"RequestLimitExceeded": true, "BandwidthLimitExceeded": true, "LimitExceededException": true, "RequestThrottled": true,
	"SlowDown": true, "PriorRequestNotComplete": true, "EC2ThrottledException": true,
}

// apiError is an AWS JSON protocol error: its code and message.
type apiError struct {
	status        int
	code, message string
}

func (e apiError) String() string {
	s := fmt.Sprintf("StatusCode: %d, api error %s", e.status, e.code)
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// parseError reads the code from X-Amzn-ErrorType or the body's __type
// (either may carry a namespace before '#' or a URL after ':').
func parseError(resp *http.Response, b []byte) apiError {
	var body struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Upper   string `json:"Message"`
	}
	_ = json.Unmarshal(b, &body)
	code := resp.Header.Get("X-Amzn-ErrorType")
	if code == "" {
		code = body.Type
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	code, _, _ = strings.Cut(code, ":")
	if code == "" {
		code = http.StatusText(resp.StatusCode)
	}
	msg := body.Message
	if msg == "" {
		msg = body.Upper
	}
	return apiError{status: resp.StatusCode, code: code, message: msg}
}
