#!/usr/bin/env bash
# Debian's Chromium, the headless browser the dashboard's integration test drives (with
# Playwright, never a browser Playwright downloads itself).
#
#   deploy/local/browser.sh          install `chromium` unless /usr/bin/chromium exists
#
# Idempotent and non-interactive: with Chromium present it only prints its version. The
# apt-get output goes to .run/logs/chromium-install.log, shown when the install fails.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

CHROMIUM="${ONCEONLY_CHROMIUM:-/usr/bin/chromium}"
INSTALL_LOG="$LOGS/chromium-install.log"

if [[ ! -x "$CHROMIUM" ]]; then
    [[ "$(id -u)" == 0 ]] ||
        die_with_log chromium "$CHROMIUM is missing and installing it needs root (apt-get install chromium)"
    command -v apt-get >/dev/null ||
        die_with_log chromium "$CHROMIUM is missing and this machine has no apt-get (install Debian's chromium package)"
    say "chromium: installing chromium from Debian packages"
    {
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
    } >>"$INSTALL_LOG" 2>&1 </dev/null ||
        die_with_log chromium "apt-get install chromium failed" "$INSTALL_LOG"
    [[ -x "$CHROMIUM" ]] ||
        die_with_log chromium "apt-get succeeded but $CHROMIUM is still missing" "$INSTALL_LOG"
fi

# Chinese text shows as boxes in screenshots without a CJK font (the progress page's).
if command -v fc-list >/dev/null && [[ -z "$(fc-list :lang=zh 2>/dev/null)" ]] &&
    [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    say "chromium: installing a CJK font (fonts-wqy-zenhei)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        fonts-wqy-zenhei >>"$INSTALL_LOG" 2>&1 </dev/null ||
        say "chromium: no CJK font installed (see $INSTALL_LOG): Chinese shows as boxes"
fi

# Proves the binary runs (missing shared libraries show here, not in the test).
version="$("$CHROMIUM" --headless --no-sandbox --version 2>>"$INSTALL_LOG")" ||
    die_with_log chromium "$CHROMIUM does not start" "$INSTALL_LOG"
say "chromium: $version ($CHROMIUM)"
