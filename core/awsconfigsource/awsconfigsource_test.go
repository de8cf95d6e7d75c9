package awsconfigsource

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion = "eu-west-1"
)

// fakeAWS answers the two JSON-protocol operations the way SSM and Secrets
// Manager do, after checking what they check: a valid SigV4 signature for
// the right service and region, the X-Amz-Target and the JSON body.
type fakeAWS struct {
	t       *testing.T
	params  map[string]string
	secrets map[string]string
	seen    []string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	service := map[string]string{"AmazonSSM.GetParameter": "ssm", "secretsmanager.GetSecretValue": "secretsmanager"}[target]
	if service == "" {
		awsError(w, 400, "UnknownOperationException", "unknown target "+target)
		return
	}
	if err := verifySigV4(r, body, service); err != nil {
		awsError(w, 403, "InvalidSignatureException", err.Error())
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		awsError(w, 400, "SerializationException", "content-type "+ct)
		return
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		awsError(w, 400, "SerializationException", err.Error())
		return
	}
	f.seen = append(f.seen, target)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch service {
	case "ssm":
		name, _ := in["Name"].(string)
		if in["WithDecryption"] != true {
			awsError(w, 400, "ValidationException", "test expects WithDecryption")
			return
		}
		v, ok := f.params[name]
		if !ok {
			awsError(w, 400, "ParameterNotFound", "")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{
			"Name": name, "Type": "SecureString", "Value": v, "Version": 3,
			"ARN": "arn:aws:ssm:" + testRegion + ":123456789012:parameter" + name,
		}})
	case "secretsmanager":
		id, _ := in["SecretId"].(string)
		v, ok := f.secrets[id]
		if !ok {
			awsError(w, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ARN": id, "Name": "gw", "SecretString": v, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}})
	}
}

func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
}

// verifySigV4 recomputes the request's AWS Signature Version 4 from the
// headers it says it signed, as the service does.
func verifySigV4(r *http.Request, body []byte, service string) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("not SigV4: %q", auth)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[0] != testAKID || cred[2] != testRegion || cred[3] != service || cred[4] != "aws4_request" {
		return fmt.Errorf("bad credential scope %q", fields["Credential"])
	}
	amzDate := r.Header.Get("X-Amz-Date")
	ts, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || time.Since(ts).Abs() > 15*time.Minute || !strings.HasPrefix(amzDate, cred[1]) {
		return fmt.Errorf("bad X-Amz-Date %q", amzDate)
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !sort.StringsAreSorted(signed) || !contains(signed, "host") || !contains(signed, "x-amz-date") {
		return fmt.Errorf("bad SignedHeaders %q", fields["SignedHeaders"])
	}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n" + r.URL.EscapedPath() + "\n" + r.URL.RawQuery + "\n")
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(r.Header.Values(h), ",")
		}
		canon.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	payload := sha256.Sum256(body)
	canon.WriteString("\n" + fields["SignedHeaders"] + "\n" + hex.EncodeToString(payload[:]))
	creq := sha256.Sum256([]byte(canon.String()))
	scope := strings.Join(cred[1:], "/")
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creq[:])
	key := []byte("AWS4" + testSecret)
	for _, s := range cred[1:] {
		key = hmacSum(key, s)
	}
	want := hex.EncodeToString(hmacSum(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return fmt.Errorf("signature mismatch")
	}
	return nil
}

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func newSource(t *testing.T, f *fakeAWS, secret string) *Source {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return NewFromConfig(aws.Config{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testAKID, secret, ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
	})
}

func TestSource(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gw-key-AbCdEf"
	f := &fakeAWS{t: t,
		params:  map[string]string{"/claude-gateway/config": "model_list: []\n"},
		secrets: map[string]string{arn: "sk-secret"},
	}
	src := newSource(t, f, testSecret)
	ctx := context.Background()
	tests := []struct {
		name    string
		get     func() (string, error)
		want    string
		wantErr string
	}{
		{"SSM parameter, decrypted", func() (string, error) { return src.Parameter(ctx, "/claude-gateway/config") }, "model_list: []\n", ""},
		{"Secrets Manager secret by ARN", func() (string, error) { return src.Secret(ctx, arn) }, "sk-secret", ""},
		{"missing parameter", func() (string, error) { return src.Parameter(ctx, "/nope") }, "", "ParameterNotFound"},
		{"missing secret", func() (string, error) { return src.Secret(ctx, "nope") }, "", "ResourceNotFoundException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.get()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// The fake really checks signatures: a client with the wrong secret is refused.
func TestSourceWrongCredentialsRefused(t *testing.T) {
	f := &fakeAWS{t: t, params: map[string]string{"/p": "v"}}
	src := newSource(t, f, "not-the-secret")
	_, err := src.Parameter(context.Background(), "/p")
	if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("err = %v, want InvalidSignatureException", err)
	}
	if len(f.seen) != 0 {
		t.Fatalf("request served despite a bad signature: %v", f.seen)
	}
}

// flaky fails its first n calls with status and code, then hands over to next.
type flaky struct {
	n      int
	status int
	code   string
	calls  int
	next   http.Handler
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls++
	if f.calls <= f.n {
		awsError(w, f.status, f.code, "try again")
		return
	}
	f.next.ServeHTTP(w, r)
}

// Throttling and 5xx answers are retried as the SDK's standard retryer
// does (3 attempts in all); a client error is final at once.
func TestSourceRetries(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		status    int
		code      string
		wantCalls int
		wantErr   string
	}{
		{"throttled once", 1, 400, "ThrottlingException", 2, ""},
		{"5xx twice", 2, 500, "InternalServerError", 3, ""},
		{"5xx three times", 3, 503, "ServiceUnavailable", 3, "ServiceUnavailable"},
		{"access denied is final", 5, 400, "AccessDeniedException", 1, "AccessDeniedException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{n: tc.failures, status: tc.status, code: tc.code,
				next: &fakeAWS{t: t, params: map[string]string{"/p": "v"}}}
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			src := NewFromConfig(aws.Config{Region: testRegion, BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
				Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, "")})
			got, err := src.Parameter(context.Background(), "/p")
			if f.calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", f.calls, tc.wantCalls)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != "v" {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

// A binary secret (SecretBinary, base64 in the JSON) is returned as its bytes.
func TestSourceBinarySecret(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, `{"ARN":"a","Name":"n","SecretBinary":"c2stYmluYXJ5"}`)
	}))
	t.Cleanup(srv.Close)
	src := NewFromConfig(aws.Config{Region: testRegion, BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, "")})
	if got, err := src.Secret(context.Background(), "a"); err != nil || got != "sk-binary" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// Endpoints resolve as the SDK clients resolve them.
func TestEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		base   string
		region string
		svc    service
		want   string
	}{
		{"ssm regional", nil, "", "eu-west-1", ssmService, "https://ssm.eu-west-1.amazonaws.com"},
		{"secrets regional", nil, "", "us-east-2", secretsService, "https://secretsmanager.us-east-2.amazonaws.com"},
		{"china partition", nil, "", "cn-north-1", ssmService, "https://ssm.cn-north-1.amazonaws.com.cn"},
		{"gov cloud is in aws's DNS", nil, "", "us-gov-west-1", secretsService, "https://secretsmanager.us-gov-west-1.amazonaws.com"},
		{"fips", map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"}, "", "us-east-1", ssmService, "https://ssm-fips.us-east-1.amazonaws.com"},
		{"per-service variable", map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:9"}, "http://global", "us-east-1", secretsService, "http://127.0.0.1:9"},
		{"per-service variable of the other service", map[string]string{"AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:9"}, "", "us-east-1", secretsService, "https://secretsmanager.us-east-1.amazonaws.com"},
		{"global endpoint", nil, "http://global", "us-east-1", ssmService, "http://global"},
		{"configured endpoints ignored", map[string]string{"AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:9", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
			"", "us-east-1", ssmService, "https://ssm.us-east-1.amazonaws.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"AWS_USE_FIPS_ENDPOINT", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ENDPOINT_URL"} {
				t.Setenv(k, tc.env[k])
			}
			t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
			t.Setenv("AWS_REGION", tc.region)
			cfg, err := awsconfig.LoadDefaultConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tc.base != "" {
				cfg.BaseEndpoint = aws.String(tc.base)
			}
			got, err := NewFromConfig(cfg).endpoint(context.Background(), tc.svc)
			if err != nil || got != tc.want {
				t.Fatalf("endpoint = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
