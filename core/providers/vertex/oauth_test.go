package vertex

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex/vertextest"
	"github.com/tidwall/sjson"
	"golang.org/x/oauth2"
)

// concurrently runs n Sends released at the same instant and returns the
// first error.
func concurrently(t *testing.T, p *Provider, n int) {
	t.Helper()
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := p.Send(context.Background(), messagesRequest(false))
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// tokensSeen returns the distinct bearer tokens of calls[from:].
func tokensSeen(srv *vertextest.Server, from int) []string {
	var out []string
	for _, c := range srv.Calls()[from:] {
		if !slices.Contains(out, c.Token) {
			out = append(out, c.Token)
		}
	}
	return out
}

// exerciseTokenReuse checks, against a fake issuing tokens of lifetimes
// [1h, 5s, 1h...], that newProvider's credential fetches one token for 50
// concurrent cold requests, and that a token inside oauth2's early-refresh
// window (10 s) is refreshed exactly once for 50 concurrent requests.
func exerciseTokenReuse(t *testing.T, srv *vertextest.Server, newProvider func() *Provider) {
	t.Helper()
	p := newProvider()
	if p.project != srv.Project() {
		t.Errorf("project %q, want %q from the credentials", p.project, srv.Project())
	}
	concurrently(t, p, 50)
	if n := srv.TokenFetches(); n != 1 {
		t.Fatalf("cold start: %d token fetches for 50 concurrent requests, want 1", n)
	}

	// A second provider with its own cache: its first token (5 s) is
	// already due for refresh when the next requests arrive.
	p2 := newProvider()
	if _, err := p2.Send(context.Background(), messagesRequest(false)); err != nil {
		t.Fatal(err)
	}
	if n := srv.TokenFetches(); n != 2 {
		t.Fatalf("%d token fetches, want 2", n)
	}
	mark := len(srv.Calls())
	short := tokensSeen(srv, mark-1)
	concurrently(t, p2, 50)
	if n := srv.TokenFetches(); n != 3 {
		t.Fatalf("expiring token: %d token fetches after 50 concurrent requests, want 3 (one refresh)", n)
	}
	refreshed := tokensSeen(srv, mark)
	if len(refreshed) != 1 || refreshed[0] == short[0] {
		t.Errorf("requests after the refresh used tokens %v (expiring one %v)", refreshed, short)
	}
	concurrently(t, p2, 50)
	if n := srv.TokenFetches(); n != 3 {
		t.Errorf("valid token: %d token fetches, want still 3", n)
	}
}

var reuseLifetimes = []time.Duration{time.Hour, 5 * time.Second, time.Hour}

// The service-account flow end to end: x/oauth2 signs an RS256 JWT with the
// key from the JSON and exchanges it at token_uri (the fake verifies the
// signature and the claims), for each way the key can be given.
func TestServiceAccountFlow(t *testing.T) {
	for _, how := range []string{"inline JSON", "file path", "GOOGLE_APPLICATION_CREDENTIALS"} {
		t.Run(how, func(t *testing.T) {
			srv := vertextest.NewServer(t, vertextest.Options{TokenLifetimes: reuseLifetimes})
			creds := ""
			switch how {
			case "inline JSON":
				creds = string(srv.ServiceAccountJSON())
			case "file path":
				creds = srv.WriteServiceAccountFile(t)
			default:
				t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", srv.WriteServiceAccountFile(t))
			}
			exerciseTokenReuse(t, srv, func() *Provider {
				p, err := New(context.Background(), deployment(testModel, "us-east5", "", srv.URL, creds), Options{})
				if err != nil {
					t.Fatal(err)
				}
				return p
			})
			as := srv.Assertions()
			if len(as) != 3 {
				t.Fatalf("%d assertions verified, want 3", len(as))
			}
			for _, a := range as {
				if a["aud"] != srv.TokenURL || !strings.Contains(a["scope"].(string), Scope) {
					t.Errorf("assertion claims %v", a)
				}
			}
		})
	}
}

// The metadata-server path as on Cloud Run: ADC finds no file, so x/oauth2
// asks GCE_METADATA_HOST (which requires Metadata-Flavor: Google) for the
// token and the project.
func TestMetadataServerFlow(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{TokenLifetimes: reuseLifetimes})
	t.Setenv("GCE_METADATA_HOST", srv.MetadataHost)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("HOME", t.TempDir()) // no gcloud credentials file

	resp, err := http.Get("http://" + srv.MetadataHost + "/computeMetadata/v1/instance/service-accounts/default/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("fake metadata server answered %d without Metadata-Flavor", resp.StatusCode)
	}

	exerciseTokenReuse(t, srv, func() *Provider {
		p, err := New(context.Background(), deployment(testModel, "europe-west1", "", srv.URL, ""), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
	for _, sc := range srv.MetadataScopes() {
		if !strings.Contains(sc, Scope) {
			t.Errorf("metadata token requested with scopes %q", sc)
		}
	}
}

func TestOtherCredentialTypes(t *testing.T) {
	for _, typ := range []string{"authorized_user", "external_account"} {
		t.Run(typ, func(t *testing.T) {
			srv := vertextest.NewServer(t, vertextest.Options{})
			creds := string(srv.AuthorizedUserJSON())
			if typ == "external_account" {
				creds = string(srv.ExternalAccountJSON(t))
			}
			p, err := New(context.Background(), deployment(testModel, "us-east5", srv.Project(), srv.URL, creds), Options{})
			if err != nil {
				t.Fatal(err)
			}
			concurrently(t, p, 10)
			if n := srv.TokenFetches(); n != 1 {
				t.Errorf("%d token fetches, want 1", n)
			}
			// The user credentials name a quota project; Google bills it.
			wantQuota := map[string]string{"authorized_user": srv.Project(), "external_account": ""}[typ]
			if got := srv.Calls()[0].Header.Get("X-Goog-User-Project"); got != wantQuota {
				t.Errorf("x-goog-user-project %q, want %q", got, wantQuota)
			}
		})
	}
}

// Deployments sharing a credential share one token through a CredentialCache.
func TestSharedCredentialCache(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	key := string(srv.ServiceAccountJSON())
	cache := NewCredentialCache()
	for _, loc := range []string{"us-east5", "europe-west1"} {
		p, err := New(context.Background(), deployment(testModel, loc, "", srv.URL, key), Options{Credentials: cache})
		if err != nil {
			t.Fatal(err)
		}
		concurrently(t, p, 5)
	}
	if n := srv.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches for two deployments sharing a credential, want 1", n)
	}
}

// A key Google does not accept: the token endpoint's refusal is an
// authentication error, retryable on another deployment.
func TestTokenEndpointRefuses(t *testing.T) {
	srv := vertextest.NewServer(t, vertextest.Options{})
	other := vertextest.NewServer(t, vertextest.Options{})
	other.ServiceAccountJSON() // other has its own key
	key, err := sjson.SetBytes(srv.ServiceAccountJSON(), "token_uri", other.TokenURL)
	if err != nil {
		t.Fatal(err)
	}
	var failures atomic.Int32
	p, err := New(context.Background(), deployment(testModel, "us-east5", "", srv.URL, string(key)), Options{CredentialsFailed: func(error) { failures.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Send(context.Background(), messagesRequest(false))
	e := asLLMError(t, err)
	if e.Status != http.StatusUnauthorized || e.Type != llm.ErrAuthentication || !e.Retryable {
		t.Errorf("refused key: %v", e)
	}
	if n := failures.Load(); n != 1 {
		t.Errorf("CredentialsFailed called %d times, want 1", n)
	}
	if len(srv.Calls()) != 0 {
		t.Error("Vertex called without a token")
	}
}

// blockingSource counts fetches and holds each until released.
type blockingSource struct {
	calls   atomic.Int32
	release chan struct{}
}

func (b *blockingSource) Token() (*oauth2.Token, error) {
	b.calls.Add(1)
	<-b.release
	return &oauth2.Token{AccessToken: "tok", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

// oauth2.ReuseTokenSource holds its mutex across a fetch, so callers that
// arrive during a fetch wait for it and share its token.
func TestConcurrentCallersShareOneFetch(t *testing.T) {
	src := &blockingSource{release: make(chan struct{})}
	cred := staticCredential(src)
	var wg sync.WaitGroup
	var started sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if i%2 == 0 { // half through the cancellable path
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			started.Done()
			tok, err := cred.token(ctx)
			if err == nil && tok.AccessToken != "tok" {
				err = errors.New("wrong token " + tok.AccessToken)
			}
			errs <- err
		}()
	}
	started.Wait()
	for src.calls.Load() == 0 {
		// The first caller is inside the fetch; the rest queue behind it.
		runtimeYield()
	}
	close(src.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Errorf("%d fetches for 50 concurrent callers, want 1", n)
	}
}

// A caller whose context ends stops waiting for a hung token fetch.
func TestTokenWaitHonoursContext(t *testing.T) {
	src := &blockingSource{release: make(chan struct{})}
	defer close(src.release)
	cred := staticCredential(src)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cred.token(ctx)
		errc <- err
	}()
	for src.calls.Load() == 0 {
		runtimeYield()
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func runtimeYield() { runtime.Gosched() }
