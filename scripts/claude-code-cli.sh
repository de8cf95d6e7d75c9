#!/usr/bin/env bash
# Installs the real Claude Code CLI from npm into .cache/claude-code/<version>
# (once; later runs reuse it) and prints the path of its native binary; also
# tmux (Debian), which drives the CLI's interactive mode in the tests.
#
# Usage: scripts/claude-code-cli.sh [VERSION|latest]   (default: the pinned one)
#
# On failure (no npm, registry unreachable) it says why on stderr and prints
# nothing, so the CLI tests skip with that reason instead of failing the build.
set -uo pipefail
PINNED=2.1.332 # the version ../shared/claude-code-requests was captured with
root=$(cd "$(dirname "$0")/.." && pwd)
version=${1:-$PINNED}
say() { echo "claude-code-cli: $*" >&2; }

if ! command -v tmux >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q tmux >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q tmux >/dev/null 2>&1; } ||
		say "tmux could not be installed; the interactive CLI test will skip"
fi
command -v npm >/dev/null 2>&1 || { say "npm is not installed; the Claude Code CLI tests will skip"; exit 0; }
if [ "$version" = latest ]; then
	version=$(npm view @anthropic-ai/claude-code version 2>/dev/null) || { say "npm view failed; the CLI tests will skip"; exit 0; }
fi
dir="$root/.cache/claude-code/$version"
bin="$dir/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
if ! "$bin" --version >/dev/null 2>&1; then
	say "installing @anthropic-ai/claude-code@$version into $dir"
	rm -rf "$dir" && mkdir -p "$dir"
	log="$dir/install.log"
	if ! (cd "$dir" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$version" &&
		node node_modules/@anthropic-ai/claude-code/install.cjs) >"$log" 2>&1 || ! "$bin" --version >/dev/null 2>&1; then
		say "install failed, the CLI tests will skip: $(tail -3 "$log" | tr '\n' ' ')"
		exit 0
	fi
fi
echo "$bin"
