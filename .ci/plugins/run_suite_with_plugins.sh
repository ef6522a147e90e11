#!/usr/bin/env bash
# CI step: the whole suite must pass with third-party plugins installed next to
# drumscribe. A separate venv gets drumscribe (editable, test extras), the two
# example plugins and a plugin that raises every threshold to 0.9, then runs the
# suite (default run; extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${PLUGINS_VENV:-.venv-plugins}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    ./plugins/examples/hysteresis ./plugins/examples/adaptive ./.ci/plugins/raise_thresholds
rm -rf plugins/examples/*/build plugins/examples/*/*.egg-info .ci/plugins/*/build .ci/plugins/*/*.egg-info
listed=$("$VENV/bin/transcribe" --list-plugins)
for p in hysteresis adaptive raise_thresholds; do
    grep -q "^$p " <<<"$listed" || { echo "plugin $p not installed:"; echo "$listed"; exit 1; }
done
OMP_NUM_THREADS=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
