package bedrock_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
)

// serverCertPEM is the fake's TLS certificate, as AWS_CA_BUNDLE holds it.
func serverCertPEM(t *testing.T, fake *bedrocktest.Server) []byte {
	t.Helper()
	u, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: conn.ConnectionState().PeerCertificates[0].Raw})
}

// otherCAPEM is a self-signed CA the fake's certificate does not chain to.
func otherCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "unrelated root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestCABundleReadOnce: deployments sharing a CABundle trust every root of
// AWS_CA_BUNDLE (the fake's certificate is the bundle's second), and the
// file is read once: rewritten with garbage after the first deployment,
// the next ones still build and call Bedrock over TLS. Without a shared
// CABundle the SDK reads the file per deployment and refuses the garbage.
func TestCABundleReadOnce(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{TLS: true})
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, append(otherCAPEM(t), serverCertPEM(t, fake)...), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	ca := bedrock.NewCABundle()
	first := newProvider(t, deployment(fake), bedrock.Options{CABundle: ca})
	if err := os.WriteFile(bundle, []byte("not a PEM file"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := newProvider(t, deployment(fake, func(p *config.Params) { p.UpstreamModel = "anthropic.claude-haiku-4-5" }), bedrock.Options{CABundle: ca})
	for i, p := range []*bedrock.Provider{first, second} {
		resp, err := p.Send(context.Background(), request(false))
		if err != nil || resp.Status != 200 {
			t.Fatalf("deployment %d over TLS with the bundle: %v %+v", i, err, resp)
		}
	}
	if _, err := bedrock.New(context.Background(), deployment(fake), bedrock.Options{}); err == nil {
		t.Error("without a shared CABundle a garbage AWS_CA_BUNDLE was accepted: the test no longer shows the file is read once")
	}
}

// TestCABundleRefusesEmptyFile: a bundle without a certificate stops the
// deployment at start, as the SDK would.
func TestCABundleRefusesEmptyFile(t *testing.T) {
	isolateEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{TLS: true})
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, []byte("no certificates here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	_, err := bedrock.New(context.Background(), deployment(fake), bedrock.Options{CABundle: bedrock.NewCABundle()})
	if err == nil || !strings.Contains(err.Error(), "AWS_CA_BUNDLE") {
		t.Fatalf("err = %v, want one naming AWS_CA_BUNDLE", err)
	}
}
