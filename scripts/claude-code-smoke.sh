#!/usr/bin/env bash
# The real Claude Code CLI against the gateway, for the pinned version and the
# newest one npm serves:
#   1. core/gateway TestClaudeCodeCLI: print mode, a Bash tool round trip and
#      a two-turn conversation through a Bedrock deployment, a Vertex
#      deployment and a mixed group whose first pick answers 500 (fakes that
#      refuse what the real services refuse);
#   2. `claude -p` against a real gateway process on the simulated provider.
# Run it with `make smoke-claude-code`; `make test` runs step 1 for the pinned version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "${gw:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

versions="pinned latest"
for v in $versions; do
	arg=; [ "$v" = latest ] && arg=latest
	claude=$(bash "$root/scripts/claude-code-cli.sh" $arg)
	[ -n "$claude" ] || { echo "claude-code-smoke: could not install the $v CLI"; exit 1; }
	echo "claude-code-smoke: $v = $("$claude" --version | head -1)"
	(cd "$root" && CLAUDE_CODE_BIN="$claude" go test -count=1 -run 'TestClaudeCodeCLI' -v ./core/gateway/ | grep -E '^(---|    ---|ok|FAIL|PASS)')
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$root" && go build -o "$work/gateway" ./functions/cloudrun)
GATEWAY_STATE_STORE=memory GATEWAY_MASTER_KEY=sk-smoke PORT=$port "$work/gateway" -config "$root/config.example.yaml" >"$work/gateway.log" 2>&1 &
gw=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/health/liveliness" >/dev/null 2>&1 && break; sleep 0.1; done

mkdir -p "$work/home" "$work/project"
out=$(cd "$work/project" && HOME="$work/home" ANTHROPIC_BASE_URL="http://localhost:$port" ANTHROPIC_AUTH_TOKEN=sk-smoke \
	CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 timeout 120 "$claude" -p "say hello" </dev/null 2>&1) || {
	echo "claude-code-smoke: claude exited non-zero:"; echo "$out"; tail -5 "$work/gateway.log"; exit 1; }
served=$(grep -c '"path":"/v1/messages".*"status":200,' "$work/gateway.log" || true)
echo "claude-code-smoke: simulated gateway answered: ${out:0:80}"
echo "claude-code-smoke: /v1/messages served with 200: $served"
[ "$served" -ge 1 ] || { tail -5 "$work/gateway.log"; exit 1; }
