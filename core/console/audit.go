package console

import (
	"net/http"
	"strings"
)

// adminCall serves an admin route to an admin session; every change (any
// method but GET and HEAD) leaves one audit line naming who made it: the
// person signed in at the IdP, or "master-key".
func (c *Console) adminCall(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		c.admin.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	c.admin.ServeHTTP(sw, r)
	ss := sessionFrom(r.Context())
	c.o.Logger.Info("console admin action", "actor", ss.actor(), "sub", ss.Sub,
		"method", r.Method, "route", strings.TrimPrefix(r.URL.Path, Prefix+"/api/admin"), "status", sw.status)
}

// statusWriter remembers the status an admin handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}
