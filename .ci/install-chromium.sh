#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for examples/page_snapshot.
#
# Playwright's own browser download is not reachable from CI, so the example drives the
# distribution's /usr/bin/chromium through `executable_path`. Run as root; non-interactive.
# The Python packages (playwright, aiohttp) come from pyproject's `example` extra, not from here.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "install-chromium: /usr/bin/chromium already present: $(/usr/bin/chromium --version 2>/dev/null || true)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: must run as root (apt-get install)" >&2
    exit 1
fi

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
echo "install-chromium: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
