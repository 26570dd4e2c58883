#!/bin/sh
# Debian's chromium, for the test that renders the pipeline's report.html headless and checks a screenshot.
# As root: apt-get install chromium. Otherwise the test says it needs it (it cannot be unpacked without root:
# it needs a dozen shared libraries a minimal system lacks).
set -eu
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
else
    echo "ensure-chromium: not root; install Debian's chromium (sudo apt-get install chromium) for the report test" >&2
fi
