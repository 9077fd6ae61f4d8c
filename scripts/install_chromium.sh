#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver for the browser test of the review console
# (tests/test_review_browser.py), when they are missing and we are root. Exits non-zero if it
# cannot; the test then skips and says why.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "chromium not installed and not root" >&2; exit 1; }
echo "installing chromium and chromium-driver (Debian packages)…" >&2
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >&2
