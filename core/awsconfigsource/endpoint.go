package awsconfigsource

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// endpoint resolves a service's URL the way the SDK clients do: a
// per-service endpoint (AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL_SECRETS_MANAGER
// or the shared config's services section), then the global one
// (AWS_ENDPOINT_URL: aws.Config.BaseEndpoint), unless
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is set; else the regional endpoint of
// the region's partition, FIPS if AWS_USE_FIPS_ENDPOINT asks for it.
func (s *Source) endpoint(ctx context.Context, svc service) (string, error) {
	if !s.ignoreConfiguredEndpoints(ctx) {
		for _, src := range s.cfg.ConfigSources {
			p, ok := src.(interface {
				GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
			})
			if !ok {
				continue
			}
			if v, found, err := p.GetServiceBaseEndpoint(ctx, svc.sdkID); err != nil {
				return "", err
			} else if found {
				return v, nil
			}
		}
	}
	if s.cfg.BaseEndpoint != nil && *s.cfg.BaseEndpoint != "" {
		return *s.cfg.BaseEndpoint, nil
	}
	host := svc.signingName
	if s.fips(ctx) {
		host += "-fips"
	}
	return "https://" + host + "." + s.cfg.Region + "." + dnsSuffix(s.cfg.Region), nil
}

func (s *Source) ignoreConfiguredEndpoints(ctx context.Context) bool {
	for _, src := range s.cfg.ConfigSources {
		if p, ok := src.(interface {
			GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error)
		}); ok {
			if v, found, _ := p.GetIgnoreConfiguredEndpoints(ctx); found {
				return v
			}
		}
	}
	return false
}

func (s *Source) fips(ctx context.Context) bool {
	for _, src := range s.cfg.ConfigSources {
		if p, ok := src.(interface {
			GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error)
		}); ok {
			if v, found, _ := p.GetUseFIPSEndpoint(ctx); found {
				return v == aws.FIPSEndpointStateEnabled
			}
		}
	}
	return false
}

// partitions are the DNS suffixes of the AWS partitions other than "aws",
// by region-name prefix (the SDK's partitions.json).
var partitions = []struct{ prefix, suffix string }{
	{"cn-", "amazonaws.com.cn"},
	{"us-isob-", "sc2s.sgov.gov"},
	{"us-isof-", "csp.hci.ic.gov"},
	{"us-iso-", "c2s.ic.gov"},
	{"eu-isoe-", "cloud.adc-e.uk"},
	{"eusc-", "amazonaws.eu"},
}

func dnsSuffix(region string) string {
	for _, p := range partitions {
		if strings.HasPrefix(region, p.prefix) {
			return p.suffix
		}
	}
	return "amazonaws.com"
}
