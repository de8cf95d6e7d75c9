#!/usr/bin/env bash
# Runs the real Claude Code CLI (from npm, cached in .cache/claude-code)
# against a local gateway on the simulated provider and checks that its
# requests were served. Not part of `make test` (the CLI is a ~240 MB
# download); run it with `make smoke-claude-code`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/claude-code"
work=$(mktemp -d)
trap 'kill "${gw:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

if [ ! -x "$cache/node_modules/@anthropic-ai/claude-code/bin/claude.exe" ] || ! "$cache/node_modules/@anthropic-ai/claude-code/bin/claude.exe" --version >/dev/null 2>&1; then
	mkdir -p "$cache"
	(cd "$cache" && npm init -y >/dev/null && npm install --no-audit --no-fund @anthropic-ai/claude-code >/dev/null &&
		node node_modules/@anthropic-ai/claude-code/install.cjs >/dev/null)
fi
claude="$cache/node_modules/@anthropic-ai/claude-code/bin/claude.exe"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$root" && go build -o "$work/gateway" ./functions/cloudrun)
GATEWAY_STATE_STORE=memory GATEWAY_MASTER_KEY=sk-smoke PORT=$port "$work/gateway" -config "$root/config.example.yaml" >"$work/gateway.log" 2>&1 &
gw=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/health/liveliness" >/dev/null 2>&1 && break; sleep 0.1; done

mkdir -p "$work/home" "$work/project"
out=$(cd "$work/project" && HOME="$work/home" ANTHROPIC_BASE_URL="http://localhost:$port" ANTHROPIC_AUTH_TOKEN=sk-smoke \
	CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 timeout 120 "$claude" -p "say hello" </dev/null 2>&1) || {
	echo "claude-code-smoke: claude exited non-zero:"; echo "$out"; tail -5 "$work/gateway.log"; exit 1; }
served=$(grep -c '"path":"/v1/messages","model":"[^"]*","model_group":"[^"]*","deployment_id":"[^"]*","status":200' "$work/gateway.log" || true)
echo "claude-code-smoke: $("$claude" --version 2>/dev/null | head -1): answer: ${out:0:80}"
echo "claude-code-smoke: /v1/messages served with 200: $served"
[ "$served" -ge 1 ] || { tail -5 "$work/gateway.log"; exit 1; }
