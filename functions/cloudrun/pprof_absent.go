//go:build nopprof

package main

import "log/slog"

// servePprof: this build was made with -tags nopprof (the release Cloud Run
// build); `make build` has the profiles.
func servePprof(addr string, log *slog.Logger) {
	log.Warn("GATEWAY_PPROF_ADDR is set, but this build has no pprof (built with -tags nopprof): use `make build`", "addr", addr)
}
