#!/usr/bin/env bash
# Load benchmark: the gateway vs a bare httputil.ReverseProxy, same upstream,
# same load, on loopback. Prints p50/p99, throughput, CPU per request,
# start-up time and RSS, and the gateway/bare-proxy ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/bench -duration "${BENCH_DURATION:-8s}" -concurrency "${BENCH_CONCURRENCY:-16}"
