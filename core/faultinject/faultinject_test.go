package faultinject

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each fault does what its name says, seen by a plain net/http client.
func TestFaults(t *testing.T) {
	const body = `{"model":"m","max_tokens":1,"stream":true,"messages":[]}`
	cases := []struct {
		spec  Spec
		check func(t *testing.T, resp *http.Response, b []byte, err error)
	}{
		{Spec{}, func(t *testing.T, resp *http.Response, b []byte, err error) {
			if err != nil || resp.StatusCode != 200 || !strings.HasSuffix(string(b), "data: {\"type\":\"message_stop\"}\n\n") {
				t.Errorf("%v %s", err, b)
			}
		}},
		{Spec{Fault: Refuse}, func(t *testing.T, _ *http.Response, _ []byte, err error) {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("want connection refused, got %v", err)
			}
		}},
		{Spec{Fault: ResetBeforeBytes}, func(t *testing.T, _ *http.Response, _ []byte, err error) {
			if err == nil {
				t.Error("want a transport error")
			}
		}},
		{Spec{Fault: ResetAfterStart}, func(t *testing.T, resp *http.Response, b []byte, err error) {
			if resp == nil || resp.StatusCode != 200 || err == nil || !strings.HasPrefix(string(b), "event: message_start") {
				t.Errorf("want message_start then a read error, got %v %q", err, b)
			}
		}},
		{Spec{Fault: Status, Status: 429, RetryAfter: "7"}, func(t *testing.T, resp *http.Response, b []byte, err error) {
			if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(string(b), "rate_limit_error") {
				t.Errorf("%v %v %s", err, resp, b)
			}
		}},
		{Spec{Fault: HangHeaders}, func(t *testing.T, _ *http.Response, _ []byte, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("want the client's deadline, got %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.spec.Fault.String(), func(t *testing.T) {
			u, err := New(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", u.URL+"/v1/messages", strings.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			var b []byte
			if err == nil {
				b, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			tc.check(t, resp, b, err)
			if tc.spec.Fault != Refuse && u.Requests() != 1 {
				t.Errorf("%d requests counted", u.Requests())
			}
		})
	}
}
