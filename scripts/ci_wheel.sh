#!/usr/bin/env bash
# CI step: build a wheel from this checkout, install it into a new venv outside
# the checkout, and transcribe examples/example.mp3 with the shipped model and
# calibration from the installed package (nothing is read from the checkout but
# the song).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" "setuptools>=70" torch==2.13.0
mkdir "$WORK/src"  # a clean copy: no stale build/ of the checkout ends up in the wheel
git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$WORK/src"
"$WORK/venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
    -w "$WORK/dist" "$WORK/src"
rm -rf "$WORK/src"
"${PIP[@]}" "$WORK"/dist/drumscribe-*.whl
cd "$WORK"
"$WORK/venv/bin/transcribe" --version
"$WORK/venv/bin/python" -m drumscribe --version
"$WORK/venv/bin/transcribe" "$ROOT/examples/example.mp3" -o out -v | tee log.txt
test -s out/example.mid
site="$("$WORK/venv/bin/python" -c 'import drumscribe, os; print(os.path.dirname(drumscribe.__file__))')"
case "$site" in "$WORK"/venv/*) ;; *) echo "drumscribe imported from $site, not the wheel"; exit 1;; esac
grep -q "calibration file $site/calibration/default.yaml" log.txt \
    || { echo "the shipped calibration was not used"; exit 1; }
grep -q "^model: $site/models/default.pt" log.txt || { echo "the shipped model was not used"; exit 1; }
echo "wheel OK: $(basename "$WORK"/dist/drumscribe-*.whl) transcribed examples/example.mp3"
