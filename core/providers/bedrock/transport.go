package bedrock

import (
	"io"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// defaultHTTPClient suits long streams: bounded connection set-up, but no
// overall or response-header timeout, because a non-streaming InvokeModel
// answers only when the whole completion is done and a stream may last many
// minutes; deadlines per call come from the caller's context. It is the SDK's
// buildable client, so that AWS_CA_BUNDLE still applies.
func defaultHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = 64
			tr.ForceAttemptHTTP2 = true
		})
}

// plainBody hands the HTTP client a request body without WriteTo.
//
// Why (PITFALLS #1): smithy closes the request body right after sending, its
// body wrapper's WriteTo then returns io.EOF, and net/http sometimes reads the
// body once more, takes that as a write error and closes the connection while
// the response is still streaming: InvokeModelWithResponseStream then ends
// with "use of closed network connection". A plain io.ReadCloser makes
// net/http copy the body with Read, which reports a clean EOF.
type plainBody struct{ next aws.HTTPClient }

func (c plainBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return c.next.Do(req)
	}
	// Shallow copy: the caller's request stays as it was.
	r := *req
	r.Body = readCloser{req.Body}
	return c.next.Do(&r)
}

// readCloser exposes only Read and Close of the wrapped body.
type readCloser struct{ rc io.ReadCloser }

func (b readCloser) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b readCloser) Close() error               { return b.rc.Close() }
