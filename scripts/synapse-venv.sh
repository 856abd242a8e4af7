#!/usr/bin/env bash
# Create (idempotently) a dedicated virtualenv holding a real Synapse homeserver
# for the end-to-end tests. Synapse pins many dependencies, so it lives apart
# from the application's own venv.
#
#   CONDUCT_SYNAPSE_VENV  venv location (default: <repo>/.venv-synapse)
#   CONDUCT_SYNAPSE_SPEC  pip requirement to install (default: matrix-synapse)
#   PYTHON                interpreter used to create the venv (default: python3)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CONDUCT_SYNAPSE_VENV:-$REPO/.venv-synapse}"
SPEC="${CONDUCT_SYNAPSE_SPEC:-matrix-synapse}"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import synapse' >/dev/null 2>&1; then
    echo "synapse-venv: $VENV already has synapse $("$VENV/bin/python" -c 'import synapse; print(synapse.__version__)')"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
log="$VENV/pip-install.log"
if ! "$VENV/bin/python" -m pip install --quiet "$SPEC" >"$log" 2>&1; then
    cat "$log" >&2
    echo "synapse-venv: pip install $SPEC into $VENV failed" >&2
    exit 1
fi
echo "synapse-venv: installed synapse $("$VENV/bin/python" -c 'import synapse; print(synapse.__version__)') into $VENV"
