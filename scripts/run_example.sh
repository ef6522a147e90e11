#!/usr/bin/env bash
# Set up a virtual environment (torch 2.13.0 CPU first, then drumscribe) and
# transcribe the bundled example song with the shipped default model.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q -e .
mkdir -p out
"$VENV/bin/transcribe" examples/example.mp3 -o out/ --overwrite "$@"
echo "MIDI written to $(pwd)/out/example.mid"
