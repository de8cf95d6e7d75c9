package bedrocktest

import (
	"crypto/subtle"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// STS is a fake AWS STS (query protocol) that issues temporary credentials
// and registers them with a fake Bedrock runtime, so a deployment with
// aws_role_name can sign with what it assumed.
type STS struct {
	// URL is the endpoint (AWS_ENDPOINT_URL_STS or aws_sts_endpoint).
	URL string

	runtime *Server
	srv     *httptest.Server
	// verifier holds the caller credentials STS accepts (its own region too).
	verifier *Server
	ttl      time.Duration

	mu    sync.Mutex
	calls []STSCall
	n     atomic.Int64
	// lifetimes, when set, are the lifetimes of successively issued
	// credentials (the last repeats); they replace ttl.
	lifetimes []time.Duration
	issued    int
	// checkToken, when set, verifies web identity tokens as the role's trust
	// policy would.
	checkToken func(token string) error
}

// SetLifetimes makes the credentials issued from now on valid for ttls[0],
// then ttls[1], ... (the last one repeats), so a test can hand out
// credentials that are already due for refresh.
func (s *STS) SetLifetimes(ttls ...time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetimes, s.issued = append([]time.Duration(nil), ttls...), 0
}

// CheckWebIdentity makes AssumeRoleWithWebIdentity accept only tokens check
// approves, as AWS does by verifying the token's signature with the
// identity provider's keys and the role's trust policy conditions (aud,
// sub); a rejected token is answered with InvalidIdentityToken (signature,
// issuer) or AccessDenied, as check's error says.
func (s *STS) CheckWebIdentity(check func(token string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkToken = check
}

// WebIdentityRejection is an error from a CheckWebIdentity function choosing
// the STS error code; any other error is InvalidIdentityToken.
type WebIdentityRejection struct{ Code, Message string }

func (e *WebIdentityRejection) Error() string { return e.Code + ": " + e.Message }

func (s *STS) lifetime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.lifetimes); n > 0 {
		ttl := s.lifetimes[min(s.issued, n-1)]
		s.issued++
		return ttl
	}
	return s.ttl
}

// STSCall is one AssumeRole* call.
type STSCall struct {
	Action, RoleArn, RoleSessionName, ExternalID, WebIdentityToken string
	// Rejected is the error answered ("" when credentials were issued).
	Rejected string
	// Issued is the access key id of the credentials issued.
	Issued string
}

// NewSTS starts a fake STS in region that accepts calls signed with caller
// and issues credentials valid for ttl (default one hour) to runtime.
func NewSTS(t testing.TB, runtime *Server, region string, caller Credentials, ttl time.Duration) *STS {
	t.Helper()
	if ttl == 0 {
		ttl = time.Hour
	}
	s := &STS{
		runtime: runtime,
		ttl:     ttl,
		verifier: &Server{Region: region, creds: map[string]Credentials{
			caller.AccessKeyID: caller,
		}},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Calls counts AssumeRole* calls received.
func (s *STS) Calls() int64 { return s.n.Load() }

// Log returns every call received, in order.
func (s *STS) Log() []STSCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]STSCall(nil), s.calls...)
}

func (s *STS) serve(w http.ResponseWriter, r *http.Request) {
	s.n.Add(1)
	body, _ := io.ReadAll(r.Body)
	q := queryOf(r, body)
	call := STSCall{Action: q.Get("Action"), RoleArn: q.Get("RoleArn"), RoleSessionName: q.Get("RoleSessionName"),
		ExternalID: q.Get("ExternalId"), WebIdentityToken: q.Get("WebIdentityToken")}
	fail := func(status int, code, msg string) {
		call.Rejected = code
		s.log(call)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		xml.NewEncoder(w).Encode(stsError{Error: stsErrorBody{Type: "Sender", Code: code, Message: msg}})
	}
	switch call.Action {
	case "AssumeRole":
		// Signed with the caller's long-term credentials.
		if e := s.verifier.verifySigV4(r, body, "sts", &Call{}); e != nil {
			fail(http.StatusForbidden, e.Type, e.Message)
			return
		}
	case "AssumeRoleWithWebIdentity":
		// Unsigned: the web identity token is the proof.
		if call.WebIdentityToken == "" {
			fail(http.StatusBadRequest, "ValidationError", "WebIdentityToken is required")
			return
		}
		s.mu.Lock()
		check := s.checkToken
		s.mu.Unlock()
		if check != nil {
			if err := check(call.WebIdentityToken); err != nil {
				var rej *WebIdentityRejection
				if errors.As(err, &rej) {
					fail(http.StatusForbidden, rej.Code, rej.Message)
				} else {
					fail(http.StatusBadRequest, "InvalidIdentityToken", err.Error())
				}
				return
			}
		}
	default:
		fail(http.StatusBadRequest, "InvalidAction", "unsupported action "+call.Action)
		return
	}
	if call.RoleArn == "" || call.RoleSessionName == "" {
		fail(http.StatusBadRequest, "ValidationError", "RoleArn and RoleSessionName are required")
		return
	}
	issued := RandomCredentials(true)
	s.runtime.AddCredentials(issued)
	call.Issued = issued.AccessKeyID
	s.log(call)
	res := stsCredentials{
		AccessKeyID: issued.AccessKeyID, SecretAccessKey: issued.SecretAccessKey,
		SessionToken: issued.SessionToken, Expiration: time.Now().Add(s.lifetime()).UTC().Format(time.RFC3339),
	}
	w.Header().Set("Content-Type", "text/xml")
	if call.Action == "AssumeRole" {
		xml.NewEncoder(w).Encode(assumeRoleResponse{Result: assumeRoleResult{Credentials: res,
			User: assumedRoleUser{Arn: call.RoleArn + "/" + call.RoleSessionName, ID: "AROA:" + call.RoleSessionName}}})
		return
	}
	xml.NewEncoder(w).Encode(webIdentityResponse{Result: assumeRoleResult{Credentials: res,
		User: assumedRoleUser{Arn: call.RoleArn + "/" + call.RoleSessionName, ID: "AROA:" + call.RoleSessionName}}})
}

func (s *STS) log(c STSCall) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumedRoleUser struct {
	Arn string `xml:"Arn"`
	ID  string `xml:"AssumedRoleId"`
}

type assumeRoleResult struct {
	Credentials stsCredentials  `xml:"Credentials"`
	User        assumedRoleUser `xml:"AssumedRoleUser"`
}

type assumeRoleResponse struct {
	XMLName xml.Name         `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleResponse"`
	Result  assumeRoleResult `xml:"AssumeRoleResult"`
}

type webIdentityResponse struct {
	XMLName xml.Name         `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result  assumeRoleResult `xml:"AssumeRoleWithWebIdentityResult"`
}

type stsErrorBody struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type stsError struct {
	XMLName xml.Name     `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error   stsErrorBody `xml:"Error"`
}

// ContainerCredentials is a fake of the credentials endpoint Lambda and ECS
// run for a function's role (AWS_CONTAINER_CREDENTIALS_FULL_URI, answering
// only requests carrying AWS_CONTAINER_AUTHORIZATION_TOKEN). Each answer is
// fresh credentials registered with the runtime.
type ContainerCredentials struct {
	// URL is for AWS_CONTAINER_CREDENTIALS_FULL_URI (a loopback address,
	// as the SDK requires for plain HTTP).
	URL string
	// Token is for AWS_CONTAINER_AUTHORIZATION_TOKEN.
	Token string

	n atomic.Int64
}

// NewContainerCredentials starts the endpoint; credentials it hands out are
// valid for ttl (default one hour).
func NewContainerCredentials(t testing.TB, runtime *Server, ttl time.Duration) *ContainerCredentials {
	t.Helper()
	if ttl == 0 {
		ttl = time.Hour
	}
	c := &ContainerCredentials{Token: randomString(32)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(c.Token)) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"code":"AccessDenied","message":"bad authorization token"}`))
			return
		}
		issued := RandomCredentials(true)
		runtime.AddCredentials(issued)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": issued.AccessKeyID, "SecretAccessKey": issued.SecretAccessKey,
			"Token": issued.SessionToken, "Expiration": time.Now().Add(ttl).UTC().Format(time.RFC3339),
		})
	}))
	c.URL = srv.URL + "/2018-06-01/credentials"
	t.Cleanup(srv.Close)
	return c
}

// Calls counts requests to the endpoint.
func (c *ContainerCredentials) Calls() int64 { return c.n.Load() }
