// Package runtimeapi runs a Lambda bootstrap binary the way AWS Lambda runs
// it, on loopback: a fake of the Lambda Runtime API
// (/2018-06-01/runtime/invocation/next, /{id}/response including the
// streaming response mode, /{id}/error, /runtime/init/error) and of the two
// Extensions API calls the Go runtime library makes to get SIGTERM at
// shutdown. It starts the binary with AWS_LAMBDA_RUNTIME_API pointed at
// itself, hands it events and decodes what it posts back: for a streamed
// function-URL response, the JSON prelude, the 8 NUL bytes and then the body
// as it arrives, chunk by chunk.
//
// The AWS Runtime Interface Emulator buffers streamed responses (the whole
// body at the end, the raw prelude included), so it cannot show that a
// function streams; this fake can. Bridge turns plain HTTP requests into
// function URL (or API Gateway v2) events, which is what `make lambda-local`
// serves.
package runtimeapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Wire constants of the Lambda Runtime API.
const (
	apiPrefix = "/2018-06-01/runtime/"
	extPrefix = "/2020-01-01/extension/"

	// IntegrationContentType marks a function-URL streaming response: a JSON
	// prelude, 8 NUL bytes, then the body.
	IntegrationContentType = "application/vnd.awslambda.http-integration-response"
	// ResponseModeHeader is what a custom runtime sets to stream; the
	// aws-lambda-go library streams without it (chunked body, integration
	// content type), and Lambda accepts both.
	ResponseModeHeader = "Lambda-Runtime-Function-Response-Mode"

	errorTypeTrailer = "Lambda-Runtime-Function-Error-Type"
	errorBodyTrailer = "Lambda-Runtime-Function-Error-Body"

	// MaxBufferedResponse is Lambda's limit for a buffered (non-streamed) response.
	MaxBufferedResponse = 6 << 20
	// maxPrelude bounds the prelude, as Lambda does (the metadata must come first and be small).
	maxPrelude = 64 << 10
)

// Options describe one function.
type Options struct {
	// Bootstrap is the path of the binary to run.
	Bootstrap string
	// TaskRoot is LAMBDA_TASK_ROOT and the working directory (default: the
	// bootstrap's directory, as on Lambda where both are /var/task).
	TaskRoot string
	// Env is added to the function's environment (KEY=VALUE).
	Env []string
	// InheritEnv starts from this process's environment (handy locally for
	// AWS credentials); otherwise the function sees only what Lambda sets
	// plus Env.
	InheritEnv bool
	// Timeout is the function timeout (default 900 s, Lambda's maximum).
	Timeout time.Duration
	// FunctionName, Region and MemoryMB fill the AWS_LAMBDA_* variables.
	FunctionName string
	Region       string
	MemoryMB     int
	// Stdout and Stderr receive the function's output (nil: discarded).
	Stdout, Stderr io.Writer
}

func (o *Options) defaults() {
	if o.TaskRoot == "" {
		o.TaskRoot = filepath.Dir(o.Bootstrap)
	}
	if o.Timeout <= 0 {
		o.Timeout = 900 * time.Second
	}
	if o.FunctionName == "" {
		o.FunctionName = "claude-gateway"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.MemoryMB <= 0 {
		o.MemoryMB = 1024
	}
}

// FunctionError is an invocation failure as Lambda reports it.
type FunctionError struct {
	// Type is the errorType (e.g. "Runtime.ExitError", "Sandbox.Timedout",
	// or the type the runtime reported).
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Timing is one instance's start-up record.
type Timing struct {
	// Started is when the process was started.
	Started time.Time
	// InitDone is when the runtime first asked for an event (init finished).
	InitDone time.Time
	// FirstResponse is when the first invocation's response was complete.
	FirstResponse time.Time
}

// Response is what the function posted for one invocation.
type Response struct {
	// Streaming reports a response posted in the streaming mode (chunked,
	// with the response-mode header or the integration content type).
	Streaming bool
	// ResponseMode is the Lambda-Runtime-Function-Response-Mode header as sent.
	ResponseMode string
	// ContentType is the Content-Type of the runtime's POST.
	ContentType string
	// StatusCode, Headers and Cookies come from the prelude (streaming) or
	// from the buffered proxy-response JSON; 502 when the function failed.
	StatusCode int
	Headers    http.Header
	Cookies    []string
	// Payload is the raw buffered response (nil when streaming).
	Payload []byte
	// Body is the HTTP body: streamed as the function writes it, or the
	// decoded buffered body. Read it to the end or Close it.
	Body io.ReadCloser

	inv *invocation
}

// Err is the invocation's error, if any: reported through /error, as
// error trailers mid-stream, or a crash or timeout. Valid once Done is closed.
func (r *Response) Err() *FunctionError {
	r.inv.mu.Lock()
	defer r.inv.mu.Unlock()
	return r.inv.err
}

// Done is closed when the function finished posting its response.
func (r *Response) Done() <-chan struct{} { return r.inv.done }

type invocation struct {
	in       *Instance
	id       string
	event    []byte
	deadline time.Time
	result   chan *Response // first outcome, buffered 1
	done     chan struct{}
	mu       sync.Mutex
	err      *FunctionError
	answered bool
	finished bool
}

// answer delivers the first outcome; later ones are dropped.
func (inv *invocation) answer(r *Response) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.answered {
		return false
	}
	inv.answered = true
	r.inv = inv
	inv.result <- r
	return true
}

func (inv *invocation) finish(err *FunctionError) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.finished {
		return
	}
	if err != nil && inv.err == nil {
		inv.err = err
	}
	inv.finished = true
	inv.in.mu.Lock()
	if inv.in.timing.FirstResponse.IsZero() {
		inv.in.timing.FirstResponse = time.Now()
	}
	inv.in.mu.Unlock()
	close(inv.done)
}

// Instance is one execution environment: the bootstrap process and the
// Runtime API it polls. Like Lambda, it runs one invocation at a time.
type Instance struct {
	opts   Options
	ln     net.Listener
	srv    *http.Server
	cmd    *exec.Cmd
	queue  chan *invocation
	slot   chan struct{}
	exited chan struct{}
	stop   chan struct{} // closed at shutdown: releases extension/next
	once   sync.Once

	mu         sync.Mutex
	inflight   map[string]*invocation
	timing     Timing
	exitErr    error
	initErr    *FunctionError
	extensions int
	// shutdownSubs are the extensions registered for SHUTDOWN events.
	shutdownSubs map[string]bool
}

// Start launches the function and returns at once; init runs in the
// background (the first Invoke waits for it, as a cold start does).
func Start(opts Options) (*Instance, error) {
	opts.defaults()
	if _, err := os.Stat(opts.Bootstrap); err != nil {
		return nil, fmt.Errorf("runtimeapi: bootstrap: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in := &Instance{
		opts:     opts,
		ln:       ln,
		queue:    make(chan *invocation),
		slot:     make(chan struct{}, 1),
		exited:   make(chan struct{}),
		stop:     make(chan struct{}),
		inflight: map[string]*invocation{},

		shutdownSubs: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"invocation/next", in.next)
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/response", in.response)
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/error", in.invokeError)
	mux.HandleFunc("POST "+apiPrefix+"init/error", in.initError)
	mux.HandleFunc("POST "+extPrefix+"register", in.extRegister)
	mux.HandleFunc("GET "+extPrefix+"event/next", in.extNext)
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go in.srv.Serve(ln)

	cmd := exec.Command(opts.Bootstrap)
	cmd.Dir = opts.TaskRoot
	cmd.Env = in.environ()
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stderr
	in.cmd = cmd
	in.mu.Lock()
	in.timing.Started = time.Now()
	in.mu.Unlock()
	if err := cmd.Start(); err != nil {
		in.srv.Close()
		return nil, fmt.Errorf("runtimeapi: start bootstrap: %w", err)
	}
	go in.wait()
	return in, nil
}

// environ is what Lambda gives a provided.al2023 function, plus opts.Env.
func (in *Instance) environ() []string {
	var env []string
	if in.opts.InheritEnv {
		env = os.Environ()
	}
	o := in.opts
	env = append(env,
		"AWS_LAMBDA_RUNTIME_API="+in.ln.Addr().String(),
		"LAMBDA_TASK_ROOT="+o.TaskRoot,
		"LAMBDA_RUNTIME_DIR="+o.TaskRoot,
		"_HANDLER=bootstrap",
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"AWS_LAMBDA_FUNCTION_NAME="+o.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(o.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+o.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME=local",
		"AWS_REGION="+o.Region,
		"AWS_DEFAULT_REGION="+o.Region,
		"TZ=:UTC",
	)
	if !o.InheritEnv {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=en_US.UTF-8")
	}
	return append(env, o.Env...)
}

func (in *Instance) wait() {
	err := in.cmd.Wait()
	in.mu.Lock()
	in.exitErr = err
	pending := make([]*invocation, 0, len(in.inflight))
	for _, inv := range in.inflight {
		pending = append(pending, inv)
	}
	in.mu.Unlock()
	close(in.exited)
	fe := in.exitError()
	for _, inv := range pending {
		inv.answer(errorResponse(fe))
		inv.finish(fe)
	}
}

// exitError is how an invocation fails on an instance that has exited:
// with the init error the runtime reported, if any.
func (in *Instance) exitError() *FunctionError {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.initErr != nil {
		return in.initErr
	}
	fe := &FunctionError{Type: "Runtime.ExitError", Message: "the runtime exited"}
	if in.exitErr != nil {
		fe.Message += ": " + in.exitErr.Error()
	}
	return fe
}

// Timing returns the instance's start-up record.
func (in *Instance) Timing() Timing {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.timing
}

// Exited is closed when the process has ended.
func (in *Instance) Exited() <-chan struct{} { return in.exited }

// ExitErr is the process's exit status (valid after Exited).
func (in *Instance) ExitErr() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.exitErr
}

// Invoke hands event to the function and returns when the response starts
// (streaming) or is complete (buffered), or the invocation failed. The
// instance takes the next invocation only after this one is Done.
func (in *Instance) Invoke(ctx context.Context, event []byte) (*Response, error) {
	select {
	case in.slot <- struct{}{}:
	case <-in.exited:
		return nil, errors.New("runtimeapi: instance has exited")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	inv := &invocation{
		in:       in,
		id:       newID(),
		event:    event,
		deadline: time.Now().Add(in.opts.Timeout),
		result:   make(chan *Response, 1),
		done:     make(chan struct{}),
	}
	in.mu.Lock()
	in.inflight[inv.id] = inv
	in.mu.Unlock()
	go in.watch(inv)

	select {
	case in.queue <- inv:
	case <-in.exited:
		fe := in.exitError()
		inv.answer(errorResponse(fe))
		inv.finish(fe)
	case <-ctx.Done():
		inv.finish(&FunctionError{Type: "Client.Canceled", Message: ctx.Err().Error()})
		return nil, ctx.Err()
	}
	select {
	case r := <-inv.result:
		return r, nil
	case <-ctx.Done():
		// Lambda keeps running a function whose caller went away; so do we,
		// discarding its response so the runtime is never stuck writing it.
		go func() { (<-inv.result).Body.Close() }()
		return nil, ctx.Err()
	}
}

// watch frees the instance when inv is done and enforces the timeout the
// way Lambda does: by ending the execution environment.
func (in *Instance) watch(inv *invocation) {
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	select {
	case <-inv.done:
	case <-in.exited:
	case <-timer.C:
		fe := &FunctionError{Type: "Sandbox.Timedout", Message: "Task timed out after " + in.opts.Timeout.String()}
		inv.answer(errorResponse(fe))
		inv.finish(fe)
		in.cmd.Process.Kill()
	}
	in.mu.Lock()
	delete(in.inflight, inv.id)
	in.mu.Unlock()
	<-in.slot
}

// Close shuts the instance down as Lambda does: SIGTERM when an extension
// asked for shutdown events (the Go library registers one to get SIGTERM),
// SIGKILL after the grace period (or at once without extensions).
func (in *Instance) Close() error {
	in.once.Do(func() {
		close(in.stop)
		in.mu.Lock()
		ext := in.extensions
		in.mu.Unlock()
		select {
		case <-in.exited:
		default:
			if ext > 0 {
				in.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-in.exited:
				case <-time.After(2 * time.Second):
				}
			}
			in.cmd.Process.Kill()
			<-in.exited
		}
		in.srv.Close()
	})
	err := in.ExitErr()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
		return nil
	}
	return err
}

// Kill ends the process at once with SIGKILL and no shutdown phase, as
// Lambda reclaims a frozen environment: only what the function wrote before
// its invocations ended survives.
func (in *Instance) Kill() {
	in.once.Do(func() {
		close(in.stop)
		in.cmd.Process.Kill()
		<-in.exited
		in.srv.Close()
	})
}

func (in *Instance) next(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	if in.timing.InitDone.IsZero() {
		in.timing.InitDone = time.Now()
	}
	in.mu.Unlock()
	select {
	case inv := <-in.queue:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:"+in.opts.Region+":123456789012:function:"+in.opts.FunctionName)
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-"+strconv.FormatInt(time.Now().Unix(), 16)+"-"+newID()[:24]+";Sampled=0")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(inv.event)
	case <-r.Context().Done():
		// At shutdown the runtime's pending /next simply never returns; the
		// process gets SIGTERM (and later SIGKILL) instead.
	}
}

func (in *Instance) lookup(w http.ResponseWriter, r *http.Request) *invocation {
	in.mu.Lock()
	inv := in.inflight[r.PathValue("id")]
	in.mu.Unlock()
	if inv == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}`))
	}
	return inv
}

// response receives the function's answer. A streamed answer is handed to
// the invoker as it arrives; the POST is acknowledged when it ends.
func (in *Instance) response(w http.ResponseWriter, r *http.Request) {
	inv := in.lookup(w, r)
	if inv == nil {
		return
	}
	resp := &Response{
		ResponseMode: r.Header.Get(ResponseModeHeader),
		ContentType:  r.Header.Get("Content-Type"),
	}
	chunked := len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
	resp.Streaming = strings.EqualFold(resp.ResponseMode, "streaming") || (chunked && resp.ContentType == IntegrationContentType)
	if !resp.Streaming {
		in.bufferedResponse(w, r, inv, resp)
		return
	}
	br := bufio.NewReaderSize(r.Body, 32<<10)
	resp.StatusCode, resp.Headers = http.StatusOK, http.Header{}
	if resp.ContentType == IntegrationContentType {
		p, err := ReadPrelude(br)
		if err != nil {
			fe := &FunctionError{Type: "Runtime.InvalidResponse", Message: err.Error()}
			inv.answer(errorResponse(fe))
			io.Copy(io.Discard, br)
			inv.finish(fe)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		resp.StatusCode, resp.Headers, resp.Cookies = p.StatusCode, p.header(), p.Cookies
	} else if resp.ContentType != "" {
		resp.Headers.Set("Content-Type", resp.ContentType)
	}
	pr, pw := io.Pipe()
	resp.Body = pr
	inv.answer(resp)
	// Hand each chunk on as it arrives. If the reader went away, keep
	// draining: Lambda lets the function run to its end.
	buf := make([]byte, 32<<10)
	var sink io.Writer = pw
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if _, werr := sink.Write(buf[:n]); werr != nil {
				sink = io.Discard
			}
		}
		if err != nil {
			var fe *FunctionError
			if err != io.EOF {
				fe = &FunctionError{Type: "Runtime.TruncatedResponse", Message: err.Error()}
			} else if t := r.Trailer.Get(errorTypeTrailer); t != "" {
				fe = &FunctionError{Type: t, Message: decodeErrorBody(r.Trailer.Get(errorBodyTrailer))}
			}
			inv.finish(fe)
			pw.Close()
			break
		}
	}
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"status":"OK"}`))
}

func (in *Instance) bufferedResponse(w http.ResponseWriter, r *http.Request, inv *invocation, resp *Response) {
	payload, err := io.ReadAll(io.LimitReader(r.Body, MaxBufferedResponse+1))
	if err == nil && len(payload) > MaxBufferedResponse {
		fe := &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}
		inv.answer(errorResponse(fe))
		inv.finish(fe)
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		fe := &FunctionError{Type: "Runtime.TruncatedResponse", Message: err.Error()}
		inv.answer(errorResponse(fe))
		inv.finish(fe)
		return
	}
	resp.Payload = payload
	status, header, cookies, body, ok := DecodeProxyResponse(payload)
	if ok {
		resp.StatusCode, resp.Headers, resp.Cookies = status, header, cookies
		resp.Body = io.NopCloser(bytes.NewReader(body))
	} else {
		// A function URL returns a non-proxy payload as a JSON 200.
		resp.StatusCode, resp.Headers = http.StatusOK, http.Header{"Content-Type": {"application/json"}}
		resp.Body = io.NopCloser(bytes.NewReader(payload))
	}
	inv.answer(resp)
	inv.finish(nil)
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"status":"OK"}`))
}

func (in *Instance) invokeError(w http.ResponseWriter, r *http.Request) {
	inv := in.lookup(w, r)
	if inv == nil {
		return
	}
	fe := readError(r)
	inv.answer(errorResponse(fe))
	inv.finish(fe)
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"status":"OK"}`))
}

func (in *Instance) initError(w http.ResponseWriter, r *http.Request) {
	fe := readError(r)
	in.mu.Lock()
	in.initErr = fe
	in.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"status":"OK"}`))
}

func (in *Instance) extRegister(w http.ResponseWriter, r *http.Request) {
	var reg struct {
		Events []string `json:"events"`
	}
	if r.Header.Get("Lambda-Extension-Name") == "" || json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&reg) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := newID()
	in.mu.Lock()
	in.extensions++
	for _, e := range reg.Events {
		if e == "SHUTDOWN" {
			in.shutdownSubs[id] = true
		}
	}
	in.mu.Unlock()
	w.Header().Set("Lambda-Extension-Identifier", id)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{
		"functionName": in.opts.FunctionName, "functionVersion": "$LATEST", "handler": "bootstrap",
	})
}

// extNext blocks until shutdown for extensions that asked for SHUTDOWN
// events, and for ever for the others (the Go library's internal extension
// registers for none: it only wants Lambda to send SIGTERM).
func (in *Instance) extNext(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Lambda-Extension-Identifier")
	if id == "" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	in.mu.Lock()
	wantsShutdown := in.shutdownSubs[id]
	in.mu.Unlock()
	stop := in.stop
	if !wantsShutdown {
		stop = nil
	}
	select {
	case <-stop:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":%d}`, time.Now().Add(2*time.Second).UnixMilli())
	case <-r.Context().Done():
	}
}

func readError(r *http.Request) *FunctionError {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	fe := &FunctionError{}
	_ = json.Unmarshal(body, fe)
	if t := r.Header.Get("Lambda-Runtime-Function-Error-Type"); t != "" {
		fe.Type = t
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func decodeErrorBody(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return s
	}
	var fe FunctionError
	if json.Unmarshal(b, &fe) == nil && fe.Message != "" {
		return fe.Message
	}
	return string(b)
}

// errorResponse is what a function URL answers for a failed invocation.
func errorResponse(fe *FunctionError) *Response {
	return &Response{
		StatusCode: http.StatusBadGateway,
		Headers:    http.Header{"Content-Type": {"application/json"}, "X-Amzn-Errortype": {fe.Type}},
		Body:       io.NopCloser(strings.NewReader(`{"Message":"Internal Server Error"}`)),
	}
}

// Prelude is the metadata a streamed function-URL response starts with.
type Prelude struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers,omitempty"`
	Cookies    []string          `json:"cookies,omitempty"`
}

func (p Prelude) header() http.Header {
	h := http.Header{}
	for k, v := range p.Headers {
		h.Set(k, v)
	}
	return h
}

// ReadPrelude reads the JSON prelude and the 8 NUL bytes that end it.
func ReadPrelude(r *bufio.Reader) (Prelude, error) {
	var buf []byte
	nuls := 0
	for nuls < 8 {
		c, err := r.ReadByte()
		if err != nil {
			return Prelude{}, fmt.Errorf("prelude: %w before the 8-byte NUL delimiter", err)
		}
		if c == 0 {
			nuls++
			continue
		}
		if nuls > 0 {
			return Prelude{}, errors.New("prelude: NUL inside the metadata")
		}
		if buf = append(buf, c); len(buf) > maxPrelude {
			return Prelude{}, errors.New("prelude: metadata too large")
		}
	}
	var p Prelude
	if err := json.Unmarshal(buf, &p); err != nil {
		return Prelude{}, fmt.Errorf("prelude: %w", err)
	}
	if p.StatusCode == 0 {
		p.StatusCode = http.StatusOK
	}
	return p, nil
}

// DecodeProxyResponse decodes a buffered function-URL / API Gateway v2
// response ({"statusCode","headers","multiValueHeaders","cookies","body","isBase64Encoded"}).
func DecodeProxyResponse(payload []byte) (status int, header http.Header, cookies []string, body []byte, ok bool) {
	var p struct {
		StatusCode        int                 `json:"statusCode"`
		Headers           map[string]string   `json:"headers"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
		Cookies           []string            `json:"cookies"`
		Body              string              `json:"body"`
		IsBase64Encoded   bool                `json:"isBase64Encoded"`
	}
	if json.Unmarshal(payload, &p) != nil || p.StatusCode == 0 {
		return 0, nil, nil, nil, false
	}
	header = http.Header{}
	for k, vs := range p.MultiValueHeaders {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	for k, v := range p.Headers {
		header.Set(k, v)
	}
	body = []byte(p.Body)
	if p.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(p.Body)
		if err != nil {
			return 0, nil, nil, nil, false
		}
		body = b
	}
	return p.StatusCode, header, p.Cookies, body, true
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
