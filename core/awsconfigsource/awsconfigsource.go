// Package awsconfigsource reads the gateway's config and master key from AWS
// Systems Manager Parameter Store and AWS Secrets Manager. It is the only
// package that imports those two SDK clients; core/configsource decides when
// it is needed, so a start from a plain file never builds it.
package awsconfigsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// Source implements configsource.Fetcher.
type Source struct {
	ssm     *ssm.Client
	secrets *secretsmanager.Client
}

// New builds a Source from the default AWS configuration (on Lambda: the
// function role's credentials and AWS_REGION from the environment; the
// standard AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL_SECRETS_MANAGER overrides
// apply). It makes no network call.
func New(ctx context.Context) (*Source, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(cfg), nil
}

// NewFromConfig builds a Source from an aws.Config.
func NewFromConfig(cfg aws.Config) *Source {
	return &Source{ssm: ssm.NewFromConfig(cfg), secrets: secretsmanager.NewFromConfig(cfg)}
}

// Parameter returns the value of an SSM parameter, decrypting a SecureString.
func (s *Source) Parameter(ctx context.Context, name string) (string, error) {
	out, err := s.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", err
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", errors.New("ssm: parameter has no value")
	}
	return *out.Parameter.Value, nil
}

// Secret returns a secret's current string value (name or ARN).
func (s *Source) Secret(ctx context.Context, id string) (string, error) {
	out, err := s.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
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
