//go:build !nopprof

package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
)

// servePprof serves http.DefaultServeMux (the runtime profiles) on addr
// (GATEWAY_PPROF_ADDR, a loopback address) until the process ends: for
// operators and benchmarks. The release Cloud Run build leaves it out
// (-tags nopprof, the Makefile's CLOUDRUN_TAGS); `make build` has it.
func servePprof(addr string, log *slog.Logger) {
	go func() { log.Warn("pprof stopped", "error", http.ListenAndServe(addr, http.DefaultServeMux).Error()) }()
}
