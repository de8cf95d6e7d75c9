package bedrock

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/claude-gateway/claude-gateway/core/config"
)

// envBearerToken is the environment variable holding a Bedrock API key.
const envBearerToken = "AWS_BEARER_TOKEN_BEDROCK"

// auth is how a deployment authenticates to Bedrock: SigV4 with an AWS
// config's credentials, or a Bedrock API key sent as a Bearer token.
type auth struct {
	cfg aws.Config
	// bearer is the API key; empty means SigV4.
	bearer string
	// http carries Bedrock (and STS) calls.
	http aws.HTTPClient
}

// resolveRegion applies PITFALLS #11: the deployment's aws_region_name wins,
// then the region of an ARN model id, then AWS_REGION_NAME and AWS_REGION
// (on Lambda AWS_REGION is the function's own region, not the deployment's).
// "" leaves it to the shared config (AWS_DEFAULT_REGION, profile region).
func resolveRegion(p config.Params, m modelID) string {
	for _, r := range []string{p.AWSRegionName, m.Region, os.Getenv("AWS_REGION_NAME"), os.Getenv("AWS_REGION")} {
		if r != "" {
			return r
		}
	}
	return ""
}

// loadAuth builds the deployment's credentials once, at startup. Nothing here
// calls the network: credential providers fetch on first use and are cached
// (aws.NewCredentialsCache) and refreshed before expiry.
//
// A caller's HTTP client carries the Bedrock and STS calls; without one, the
// SDK's buildable client is configured for long streams (and AWS_CA_BUNDLE,
// read once for all deployments sharing ca).
func loadAuth(ctx context.Context, p config.Params, region string, custom *http.Client, ca *CABundle, failed func(error)) (auth, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		// The gateway's router owns retries and failover.
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		awsconfig.WithRetryMaxAttempts(1),
	}
	if custom == nil {
		o, err := ca.options(defaultHTTPClient())
		if err != nil {
			return auth{}, err
		}
		opts = append(opts, o...)
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if p.AWSProfileName != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(p.AWSProfileName))
	}
	switch {
	case p.AWSAccessKeyID != "" && p.AWSSecretAccessKey != "":
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(p.AWSAccessKeyID, p.AWSSecretAccessKey, p.AWSSessionToken)))
	case p.AWSAccessKeyID != "" || p.AWSSecretAccessKey != "":
		return auth{}, errors.New("aws_access_key_id and aws_secret_access_key must be set together")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return auth{}, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		return auth{}, errors.New("no AWS region: set aws_region_name (or AWS_REGION)")
	}

	var hc aws.HTTPClient = cfg.HTTPClient
	if custom != nil {
		hc = custom
	}
	hc = plainBody{next: hc}

	switch {
	case p.AWSRoleName != "":
		creds, err := roleProvider(cfg, p, hc)
		if err != nil {
			return auth{}, err
		}
		// One cache, so one STS call per credential lifetime for every
		// request of this deployment; refreshed ahead of expiry so that no
		// request is signed with credentials about to lapse.
		cfg.Credentials = aws.NewCredentialsCache(taggedCredentials{p: creds, failed: failed}, func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = roleRefreshWindow
		})
	case p.AWSWebIdentityToken != "":
		return auth{}, errors.New("aws_web_identity_token needs aws_role_name")
	case cfg.Credentials != nil:
		cfg.Credentials = aws.NewCredentialsCache(taggedCredentials{p: cfg.Credentials, failed: failed})
	}

	a := auth{cfg: cfg, bearer: p.APIKey, http: hc}
	// A Bedrock API key from the environment applies only to deployments
	// that configure no AWS credentials of their own.
	if a.bearer == "" && !hasAWSCredentials(p) {
		a.bearer = os.Getenv(envBearerToken)
	}
	return a, nil
}

func hasAWSCredentials(p config.Params) bool {
	return p.AWSAccessKeyID != "" || p.AWSProfileName != "" || p.AWSRoleName != ""
}

// roleRefreshWindow is how long before expiry assumed-role credentials are
// replaced. STS issues them for at least 15 minutes (one hour by default).
const roleRefreshWindow = 5 * time.Minute

// roleProvider assumes aws_role_name with the base credentials, or with the
// web identity token aws_web_identity_token names (see webIdentitySource),
// through an STS client built from the loaded config so AWS_ENDPOINT_URL_STS
// and friends apply (PITFALLS #13); aws_sts_endpoint sets the endpoint on top.
func roleProvider(cfg aws.Config, p config.Params, hc aws.HTTPClient) (aws.CredentialsProvider, error) {
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.HTTPClient = hc
		if p.AWSSTSEndpoint != "" {
			o.BaseEndpoint = aws.String(p.AWSSTSEndpoint)
		}
	})
	if p.AWSWebIdentityToken != "" {
		token, err := webIdentitySource(p)
		if err != nil {
			return nil, err
		}
		// AssumeRoleWithWebIdentity is unsigned: the token is the proof.
		return stscreds.NewWebIdentityRoleProvider(client, p.AWSRoleName, token,
			func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = p.AWSSessionName }), nil
	}
	return stscreds.NewAssumeRoleProvider(client, p.AWSRoleName, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = p.AWSSessionName
		if p.AWSExternalID != "" {
			o.ExternalID = aws.String(p.AWSExternalID)
		}
	}), nil
}

// credentialsError is a failure to obtain AWS credentials (from the chain, a
// profile or STS), as opposed to an answer from Bedrock.
type credentialsError struct{ Err error }

func (e *credentialsError) Error() string { return "AWS credentials unavailable: " + e.Err.Error() }
func (e *credentialsError) Unwrap() error { return e.Err }

// taggedCredentials marks its provider's failures as credentialsError, so
// that they are not mistaken for Bedrock's own errors.
// It also reports them to failed (nil: nobody).
type taggedCredentials struct {
	p      aws.CredentialsProvider
	failed func(error)
}

func (t taggedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := t.p.Retrieve(ctx)
	if err != nil {
		if t.failed != nil && ctx.Err() == nil {
			t.failed(err)
		}
		return c, &credentialsError{Err: err}
	}
	return c, nil
}
