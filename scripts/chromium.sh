#!/usr/bin/env bash
# Installs Debian's Chromium (and ChromeDriver) if missing and prints the
# browser's path, for the console's browser tests (core/gateway
# TestConsoleInBrowser, driven from Go with chromedp).
#
# On failure (not root, no apt, no network) it says why on stderr and prints
# nothing, so the browser tests skip with that reason instead of failing the build.
set -uo pipefail
say() { echo "chromium: $*" >&2; }
bin=/usr/bin/chromium
if ! "$bin" --version >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		say "not installed and cannot install it here (needs root and apt); the browser tests will skip"
		exit 0
	fi
	say "installing Debian's chromium and chromium-driver"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } ||
		{ say "apt-get install chromium failed; the browser tests will skip"; exit 0; }
fi
echo "$bin"
