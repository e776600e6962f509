#!/usr/bin/env bash
# A headless Chromium for the dashboard's end-to-end tests (tests/integration/dashboard/).
# usage: scripts/backends/browser.sh start|stop|status
# start: installs Debian chromium + chromium-driver when missing and the Python driver (selenium,
# also in the dev extra) into ./.venv when it is absent. No daemon: each test starts its own
# chromedriver and browser with a fresh profile and stops them. Idempotent: well under a second
# when all is there. stop: nothing to stop (the packages stay installed).
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-start}" in
  stop) exit 0 ;;
  status)
    command -v chromium >/dev/null && command -v chromedriver >/dev/null && echo "chromium: $(chromium --version 2>/dev/null)"
    exit 0 ;;
esac

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if ! apt-cache show chromium-driver >/dev/null 2>&1; then apt-get -o DPkg::Lock::Timeout=900 update -qq; fi
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core >/dev/null || {
      apt-get -o DPkg::Lock::Timeout=900 update -qq
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
        chromium chromium-driver fonts-dejavu-core >/dev/null
    }
fi
if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import selenium' 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check 'selenium>=4.10'
fi
chromedriver --version >/dev/null
