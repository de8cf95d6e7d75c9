// Package bodydeadline bounds how long a request body may take to arrive,
// so a client trickling its body one byte at a time ties up a connection
// for a bounded time, without bounding how long the answer may stream.
//
// http.Server's ReadTimeout cannot do this for a streaming gateway: it
// stays armed after the body is read, and when it fires the server cancels
// the request's context, cutting a long stream. Handler arms the
// connection's read deadline when the handler starts and lifts it as soon
// as the body has been read to its end (or closed).
package bodydeadline

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// Handler serves h with each request body bounded to d from the moment
// the handler starts; reading a body that is not complete by then fails
// with a timeout error. Requests without a body are served unchanged.
func Handler(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || d <= 0 {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			h.ServeHTTP(w, r) // not a net/http connection (e.g. Lambda): nothing to bound
			return
		}
		r.Body = &liftingBody{ReadCloser: r.Body, lift: func() { rc.SetReadDeadline(time.Time{}) }}
		h.ServeHTTP(w, r)
	})
}

// liftingBody lifts the read deadline once the body has been read to its
// end (io.EOF). A body that failed (its deadline passed) keeps the
// deadline, so the server closes that connection instead of waiting on it.
type liftingBody struct {
	io.ReadCloser
	once sync.Once
	lift func()
}

func (b *liftingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.lift)
	}
	return n, err
}
