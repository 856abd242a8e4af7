#!/usr/bin/env bash
# Set up and serve Conduct Desk on the embedded default (SQLite in ./conduct.db, no tokens).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/setup.sh" postgres
VENV="${CONDUCT_VENV:-$REPO/.venv}"
"$VENV/bin/conduct" db upgrade
exec "$VENV/bin/conduct" serve "$@"
