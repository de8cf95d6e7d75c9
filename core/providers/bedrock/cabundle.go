package bedrock

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"sync"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// envCABundle names the PEM file of extra roots the AWS SDKs trust.
const envCABundle = "AWS_CA_BUNDLE"

// CABundle reads AWS_CA_BUNDLE once for all the Bedrock deployments of a
// gateway. The SDK's LoadDefaultConfig reads and parses the bundle on every
// call, one per deployment at start: a system-sized bundle (~140 roots)
// takes 5-10 ms each. Its rule: the file is read and parsed at the first
// deployment that loads its AWS config; every deployment's HTTP client then
// trusts that one pool. The zero value is ready to use; share one per gateway.
type CABundle struct {
	once  sync.Once
	path  string
	pool  *x509.CertPool
	first []byte // the bundle's first certificate, PEM
	err   error
}

// NewCABundle returns a CABundle for a gateway's deployments.
func NewCABundle() *CABundle { return &CABundle{} }

// options are the LoadDefaultConfig options that give it client, a
// buildable client trusting the whole bundle, and stop it from reading the
// file again: a CustomCABundle option is used before AWS_CA_BUNDLE, and
// the SDK adds it to the pool client's transport already has, so the
// bundle's first certificate (already in the pool) is all it parses.
// Without AWS_CA_BUNDLE, nothing changes.
func (b *CABundle) options(client *awshttp.BuildableClient) ([]func(*awsconfig.LoadOptions) error, error) {
	path := os.Getenv(envCABundle)
	if b == nil || path == "" {
		return []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(client)}, nil
	}
	b.once.Do(func() { b.path = path; b.pool, b.first, b.err = readCABundle(path) })
	if b.err != nil {
		return nil, b.err
	}
	if path != b.path { // the environment changed since the first deployment: let the SDK read it
		return []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(client)}, nil
	}
	client = client.WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = b.pool
	})
	return []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(client),
		awsconfig.WithCustomCABundle(bytes.NewReader(b.first))}, nil
}

// readCABundle parses a PEM bundle into a pool (which keeps each root's
// bytes, not its parsed form), and returns its first certificate that
// parses; like the SDK, it refuses a file without one.
func readCABundle(path string) (*x509.CertPool, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", envCABundle, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, nil, fmt.Errorf("%s: no certificate in %s", envCABundle, path)
	}
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return nil, nil, fmt.Errorf("%s: no certificate in %s", envCABundle, path)
		}
		if _, err := x509.ParseCertificate(block.Bytes); block.Type == "CERTIFICATE" && err == nil {
			return pool, pem.EncodeToMemory(block), nil
		}
	}
}
