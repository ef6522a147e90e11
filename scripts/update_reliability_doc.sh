#!/usr/bin/env bash
# Regenerate docs/reliability.md from tests/test_reliability.py (the only way the
# tests write a tracked file). Extra arguments go to pytest, e.g. --runslow.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
DRUMSCRIBE_WRITE_DOCS=1 "$VENV/bin/python" -m pytest -q tests/test_reliability.py "$@"
