#!/usr/bin/env bash
# Builds a real OpenID Connect provider for the SSO tests: the example OP of
# github.com/zitadel/oidc (an OpenID-certified Go library), from the Go
# module proxy, into .cache/oidc-op/<version>/op (once; later runs reuse it),
# and prints the binary's path. core/sso's TestRealOIDCProvider starts it on
# loopback (OIDC_OP_BIN).
#
# On failure (module proxy unreachable) it says why on stderr and prints
# nothing, so that test skips with the reason instead of failing the build.
set -uo pipefail
VERSION=v3.52.0
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.cache/oidc-op/$VERSION"
bin="$dir/op"
say() { echo "oidc-provider: $*" >&2; }
if [ ! -x "$bin" ]; then
	say "building github.com/zitadel/oidc/v3@$VERSION example/server into $dir"
	mkdir -p "$dir/src"
	printf 'module oidcop\n\ngo 1.26\n\nrequire github.com/zitadel/oidc/v3 %s\n' "$VERSION" >"$dir/src/go.mod"
	printf 'package main\n\nimport _ "github.com/zitadel/oidc/v3/example/server/exampleop"\n' >"$dir/src/deps.go"
	if ! (cd "$dir/src" && GOFLAGS=-mod=mod go build -o "$bin" github.com/zitadel/oidc/v3/example/server) >"$dir/build.log" 2>&1; then
		say "build failed, the real-provider test will skip: $(tail -3 "$dir/build.log" | tr '\n' ' ')"
		exit 0
	fi
fi
echo "$bin"
