package vertex

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
)

// A deployment that names its project finds Application Default Credentials
// at its first request, not in New: the ADC file need not exist yet when the
// gateway starts, and 10 concurrent first requests find it once.
func TestADCFoundAtFirstRequest(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	path := filepath.Join(t.TempDir(), "adc.json")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
	t.Setenv(EnvCredentials, "")
	p, err := New(context.Background(), deployment(testModel, "europe-west1", srv.Project(), srv.URL, ""), Options{})
	if err != nil {
		t.Fatalf("New looked for ADC at start: %v", err)
	}
	if err := os.WriteFile(path, srv.ServiceAccountJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	concurrently(t, p, 10)
	if n := srv.TokenFetches(); n != 1 {
		t.Fatalf("%d token fetches for 10 concurrent first requests, want 1", n)
	}
}

// Off Google Cloud, with no credentials file, ADC fails without probing the
// metadata server; a lazy deployment then fails over like one found without
// credentials at start (401, retryable).
func TestADCOffCloudNoProbe(t *testing.T) {
	if onGoogleCloudHost() {
		t.Skip("this machine is on Google Cloud")
	}
	for _, v := range []string{"GCE_METADATA_HOST", "K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET", "GAE_SERVICE",
		"GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", EnvCredentials} {
		t.Setenv(v, "")
	}
	t.Setenv("HOME", t.TempDir())
	// A probe would go through the default transport: make any dial fail the test.
	saved := http.DefaultTransport
	http.DefaultTransport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("network call to %s", r.URL)
		return nil, errors.New("no network in this test")
	})
	t.Cleanup(func() { http.DefaultTransport = saved })

	_, err := findDefaultCredentials(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not on Google Cloud") {
		t.Fatalf("err = %v", err)
	}
	p, err := New(context.Background(), deployment(testModel, "us-east5", "proj", "http://127.0.0.1:1", ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Send(context.Background(), messagesRequest(false))
	var le *llm.Error
	if !errors.As(err, &le) || le.Status != 401 || !le.Retryable || !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("err = %#v, want a retryable 401 wrapping ErrNoCredentials", err)
	}
	// Without a project the credentials must name it: New looks at once.
	if _, err := New(context.Background(), deployment(testModel, "us-east5", "", "http://127.0.0.1:1", ""), Options{}); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("New without a project: %v, want ErrNoCredentials", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// onGoogleCloudHost is onGoogleCloud without the environment variables.
func onGoogleCloudHost() bool {
	b, err := os.ReadFile("/sys/class/dmi/id/product_name")
	return err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "Google")
}
