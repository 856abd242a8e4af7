#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then runs
# lint, types, layering and every test tier (unit, integration, e2e).
#
#   CONDUCT_TEST_POSTGRES=1   also run the storage suite on PostgreSQL (default when a local
#                             PostgreSQL is installed; started here when it is down)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh dev
VENV="${CONDUCT_VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"

# Chromium for the browser tests, from Debian (never a browser download of Playwright's own).
if [ ! -x /usr/bin/chromium ]; then
  echo "test: installing chromium from Debian"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
# Synapse for the Matrix tests, in its own virtualenv.
bash scripts/synapse-venv.sh

# PostgreSQL: on by default when it is installed here; started when down.
if [ -z "${CONDUCT_TEST_POSTGRES+x}" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
  export CONDUCT_TEST_POSTGRES=1
fi
if [ -n "${CONDUCT_TEST_POSTGRES:-}" ] && [ "${CONDUCT_TEST_POSTGRES}" != "0" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "test: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

echo "test: ruff";   ruff check src tests $( [ -d bench ] && echo bench )
echo "test: mypy";   mypy
echo "test: layers"; lint-imports
echo "test: pytest (PostgreSQL: ${CONDUCT_TEST_POSTGRES:-off})"
# two processes (this machine's cores), each test file whole in one of them: the Synapse,
# browser and command-line files keep their module fixtures; most tests wait on a fake, a
# server or a subprocess, so the two overlap well
exec python -m pytest tests -n 2 --dist loadfile "$@"
