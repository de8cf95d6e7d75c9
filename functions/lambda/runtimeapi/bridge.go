package runtimeapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Event formats a Bridge can produce.
const (
	FormatFunctionURL  = "function-url"
	FormatAPIGatewayV2 = "apigw-v2"
)

// MaxRequestBody is the largest request a function URL accepts (6 MB).
const MaxRequestBody = 6 << 20

// httpEvent is the payload format 2.0 shared by function URLs and API
// Gateway HTTP APIs; the API Gateway fields stay empty for function URLs.
type httpEvent struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	RequestContext        requestContext    `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

type requestContext struct {
	AccountID    string      `json:"accountId"`
	APIID        string      `json:"apiId"`
	DomainName   string      `json:"domainName"`
	DomainPrefix string      `json:"domainPrefix"`
	HTTP         httpContext `json:"http"`
	RequestID    string      `json:"requestId"`
	RouteKey     string      `json:"routeKey"`
	Stage        string      `json:"stage"`
	Time         string      `json:"time"`
	TimeEpoch    int64       `json:"timeEpoch"`
}

type httpContext struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// NewEvent turns an HTTP request (whose body was read into body) into the
// event a function URL (FormatFunctionURL) or an API Gateway HTTP API
// $default route (FormatAPIGatewayV2) would deliver: header names lower-cased
// and repeated values comma-joined, cookies split out, textual bodies as
// text and anything else base64.
func NewEvent(format string, r *http.Request, body []byte, now time.Time) ([]byte, error) {
	host := r.Host
	prefix, _, _ := strings.Cut(host, ".")
	ev := httpEvent{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		RequestContext: requestContext{
			AccountID:    "anonymous",
			APIID:        prefix,
			DomainName:   host,
			DomainPrefix: prefix,
			HTTP: httpContext{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
			RequestID: newID(),
			RouteKey:  "$default",
			Stage:     "$default",
			Time:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: now.UnixMilli(),
		},
	}
	// Both carry routeKey and stage "$default"; what differs is the domain
	// (<url-id>.lambda-url.<region>.on.aws vs <api-id>.execute-api...), which
	// here is whatever host the client used.
	if format != FormatFunctionURL && format != FormatAPIGatewayV2 {
		return nil, errors.New("runtimeapi: unknown event format " + format)
	}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, line := range r.Header[k] {
				for _, c := range strings.Split(line, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[lk] = strings.Join(r.Header[k], ",")
	}
	ev.Headers["host"] = host
	ev.Headers["x-forwarded-for"] = ev.RequestContext.HTTP.SourceIP
	ev.Headers["x-forwarded-proto"] = "https"
	ev.Headers["x-forwarded-port"] = "443"
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return json.Marshal(ev)
}

func sourceIP(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

func isText(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || strings.HasSuffix(mt, "+xml") || mt == "application/x-www-form-urlencoded" ||
		mt == "application/javascript"
}

// Pool is a set of instances of one function, scaled like Lambda's
// concurrency: each invocation takes an idle instance or starts a new one
// (a cold start), up to Max at once.
type Pool struct {
	Options Options
	// Max is the concurrency limit (default 4).
	Max int
	// OnColdStart, if set, hears of each new instance's first completed invocation.
	OnColdStart func(Timing)

	once  sync.Once
	slots chan struct{}
	idle  chan *Instance
	mu    sync.Mutex
	all   map[*Instance]bool
}

func (p *Pool) init() {
	p.once.Do(func() {
		if p.Max <= 0 {
			p.Max = 4
		}
		p.slots = make(chan struct{}, p.Max)
		p.idle = make(chan *Instance, p.Max)
		p.all = map[*Instance]bool{}
	})
}

// Invoke runs event on an instance; release is called when the function has
// finished with it (the instance then takes another invocation).
func (p *Pool) Invoke(ctx context.Context, event []byte) (*Response, error) {
	p.init()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	in, cold, err := p.take()
	if err != nil {
		<-p.slots
		return nil, err
	}
	resp, err := in.Invoke(ctx, event)
	if err != nil {
		go p.giveBack(in, nil, cold)
		return nil, err
	}
	go p.giveBack(in, resp, cold)
	return resp, nil
}

func (p *Pool) take() (*Instance, bool, error) {
	for {
		select {
		case in := <-p.idle:
			select {
			case <-in.Exited():
				p.drop(in)
				continue
			default:
				return in, false, nil
			}
		default:
		}
		in, err := Start(p.Options)
		if err != nil {
			return nil, false, err
		}
		p.mu.Lock()
		p.all[in] = true
		p.mu.Unlock()
		return in, true, nil
	}
}

func (p *Pool) giveBack(in *Instance, resp *Response, cold bool) {
	if resp != nil {
		select {
		case <-resp.Done():
		case <-in.Exited():
		}
	}
	if cold && p.OnColdStart != nil {
		p.OnColdStart(in.Timing())
	}
	select {
	case <-in.Exited():
		p.drop(in)
	default:
		p.idle <- in
	}
	<-p.slots
}

func (p *Pool) drop(in *Instance) {
	p.mu.Lock()
	delete(p.all, in)
	p.mu.Unlock()
	in.Close()
}

// Close shuts every instance down.
func (p *Pool) Close() {
	p.init()
	p.mu.Lock()
	all := make([]*Instance, 0, len(p.all))
	for in := range p.all {
		all = append(all, in)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Add(1)
		go func() { defer wg.Done(); in.Close() }()
	}
	wg.Wait()
}

// Bridge serves HTTP the way a Lambda function URL (or an API Gateway HTTP
// API) in front of the function would: each request becomes an event, and
// the function's response is written back as it arrives.
type Bridge struct {
	Pool *Pool
	// Format is FormatFunctionURL (default) or FormatAPIGatewayV2.
	Format string
	Log    *slog.Logger
}

func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := b.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		http.Error(w, `{"Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}`, http.StatusRequestEntityTooLarge)
		return
	}
	format := b.Format
	if format == "" {
		format = FormatFunctionURL
	}
	event, err := NewEvent(format, r, body, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// The function keeps running if the client leaves, as on Lambda.
	resp, err := b.Pool.Invoke(context.WithoutCancel(r.Context()), event)
	if err != nil {
		log.Error("invoke failed", "error", err.Error())
		http.Error(w, `{"Message":"Internal Server Error"}`, http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Headers {
		h[k] = vs
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // client gone; Close lets the function finish on its own
			}
			_ = rc.Flush()
		}
		if err != nil {
			break
		}
	}
	<-resp.Done()
	if fe := resp.Err(); fe != nil {
		log.Warn("invocation failed", "error_type", fe.Type, "error", fe.Message)
	}
}
