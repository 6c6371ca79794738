#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (never a browser downloaded by a test
# tool). Installs it when missing and we may (root with apt-get); otherwise says so,
# and the browser tests skip with that message.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "browser: installing Debian's chromium for the browser tests"
  mkdir -p var/log
  if (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        chromium fonts-dejavu-core) >var/log/install-chromium.log 2>&1; then
    exit 0
  fi
  echo "browser: apt-get could not install chromium (see var/log/install-chromium.log);" \
       "the browser tests will be skipped" >&2
else
  echo "browser: /usr/bin/chromium is missing and cannot be installed here (needs root and" \
       "apt-get); the browser tests will be skipped. Install Debian's chromium to run them." >&2
fi
exit 0
