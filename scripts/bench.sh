#!/usr/bin/env bash
# Load benchmark: the gateway vs a bare httputil.ReverseProxy, same upstream,
# same load, interleaved, on loopback (scripts/bench/main.go says what is
# measured). The binaries are built with the Makefile's per-runtime tags.
set -euo pipefail
cd "$(dirname "$0")/.."
# tags RUNTIME [MAKE ARGS]: the runtime's build tags (make print-tags).
tags() { make -s print-tags "${@:2}" | awk -v r="$1" '$1 == r { print $2 }'; }
exec go run ./scripts/bench -duration "${BENCH_DURATION:-8s}" -concurrency "${BENCH_CONCURRENCY:-16}" \
	-streams "${BENCH_STREAMS:-1000}" -cloudrun-tags "$(tags cloudrun)" \
	-cloudrun-firestore-tags "$(tags cloudrun CLOUDRUN_STORE=firestore)" -lambda-tags "$(tags lambda)" "$@"
