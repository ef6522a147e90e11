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
# Debian tools some tests need (fluidsynth and a GM SoundFont for the corpus's
# accompaniment, lame and oggenc for its codecs, node/npm for scan-chart): installed when
# missing and we are root (as in CI); elsewhere those tests skip and say why.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    need=""
    command -v fluidsynth >/dev/null 2>&1 || need="$need fluidsynth fluid-soundfont-gm timgm6mb-soundfont"
    command -v lame >/dev/null 2>&1 || need="$need lame"
    command -v oggenc >/dev/null 2>&1 || need="$need vorbis-tools"
    command -v npm >/dev/null 2>&1 || need="$need nodejs"
    if [ -n "$need" ]; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null; } \
            || echo "warning: apt-get install$need failed; the tests that need them skip" >&2
    fi
fi
# scan-chart (npm) for tests/test_scan_chart.py, when node and npm are there (CI installs
# them; elsewhere that test is skipped with the reason). Its GitHub-only dependency
# stream-audio-fingerprint is replaced by the empty stub in tests/scan_chart (npm overrides).
if command -v npm >/dev/null 2>&1 && [ ! -d tests/scan_chart/node_modules/scan-chart ]; then
    npm ci --prefix tests/scan_chart --no-audit --no-fund --silent \
        || echo "warning: npm ci of scan-chart failed; tests/test_scan_chart.py will skip" >&2
fi
"$VENV/bin/python" -m ruff check --no-cache .
"$VENV/bin/python" scripts/typecheck.py
"$VENV/bin/python" -m pytest "$@"
