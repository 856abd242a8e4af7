#!/usr/bin/env bash
# Shared setup for scripts/run.sh and scripts/test.sh: a virtualenv with the project in it.
# Idempotent: reinstalls only when pyproject.toml changed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CONDUCT_VENV:-$REPO/.venv}"
EXTRAS="${1:-dev}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
  # (this machine's pip config names local mirrors that may be absent: hide that noise)
  "$VENV/bin/pip" install -q --upgrade pip 2>&1 | { grep -v "is neither a file nor a directory" || true; }
fi
stamp="$VENV/.conduct-installed-$EXTRAS"
want="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing conduct-desk[$EXTRAS] into $VENV"
  # (this machine's pip config names local mirrors that may be absent: hide that noise)
  "$VENV/bin/pip" install -q -e "$REPO[$EXTRAS]" 2>&1 | { grep -v "is neither a file nor a directory" || true; }
  echo "$want" > "$stamp"
fi
