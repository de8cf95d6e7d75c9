#!/usr/bin/env bash
# Installs the official Node SDKs, @anthropic-ai/sdk and openai (pinned),
# from npm into .cache/node-sdks/<versions> (once; later runs reuse it) and
# prints that directory: core/gateway's TestOfficialNodeSDKs drives the
# gateway with them (NODE_SDKS_DIR).
#
# Usage: scripts/node-sdks.sh
#
# On failure (no node or npm, registry unreachable) it says why on stderr and
# prints nothing, so the test skips with that reason instead of failing.
set -uo pipefail
ANTHROPIC_SDK=1.17.0
OPENAI_SDK=7.60.0
root=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "node-sdks: $*" >&2; }

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
	{ say "node or npm is not installed; TestOfficialNodeSDKs will skip"; exit 0; }
dir="$root/.cache/node-sdks/anthropic-$ANTHROPIC_SDK-openai-$OPENAI_SDK"
if ! [ -f "$dir/node_modules/@anthropic-ai/sdk/package.json" ] || ! [ -f "$dir/node_modules/openai/package.json" ]; then
	say "installing @anthropic-ai/sdk@$ANTHROPIC_SDK and openai@$OPENAI_SDK into $dir"
	rm -rf "$dir" && mkdir -p "$dir"
	if ! (cd "$dir" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error \
		"@anthropic-ai/sdk@$ANTHROPIC_SDK" "openai@$OPENAI_SDK") >"$dir/install.log" 2>&1; then
		say "install failed, TestOfficialNodeSDKs will skip: $(tail -3 "$dir/install.log" | tr '\n' ' ')"
		rm -rf "$dir"
		exit 0
	fi
fi
echo "$dir"
