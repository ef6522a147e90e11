#!/usr/bin/env bash
# Set up a virtual environment (torch 2.13.0 CPU first, then drumscribe with its
# test extras), lint (ruff), type-check the public API (mypy, scripts/typecheck.py)
# and run the whole test suite. Extra arguments go to pytest (e.g. --runslow for
# training and long fuzzing). The tests never write tracked files; regenerate
# docs/reliability.md with scripts/update_reliability_doc.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q -e '.[test]'
"$VENV/bin/python" -m ruff check --no-cache .
"$VENV/bin/python" scripts/typecheck.py
"$VENV/bin/python" -m pytest "$@"
