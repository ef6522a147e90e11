#!/usr/bin/env bash
# Threshold analysis of a model on validation data:
#   scripts/analyze_model_thresholds.sh [--checkpoint CKPT] [--data DIR] [extra calibrate flags...]
# Writes threshold_analysis_results/{calibration.yaml, threshold_results.csv,
# threshold_curves.png, pr_roc_curves.png, analysis_report.txt}.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
ckpt="$root/models/default.pt"
data="$root/corpus/val"
out="threshold_analysis_results"
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --checkpoint) ckpt="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) extra+=("$1"); shift ;;
    esac
done
if [ ! -f "$ckpt" ]; then
    echo "error: checkpoint $ckpt not found; pass --checkpoint CKPT" >&2; exit 2
fi
if [ ! -d "$data" ]; then
    echo "error: validation folder $data not found; pass --data DIR" >&2; exit 2
fi
mkdir -p "$out"
python "$root/scripts/calibrate.py" --model "$ckpt" --data "$data" \
    -o "$out/calibration.yaml" --report "$out" --overwrite ${extra[@]+"${extra[@]}"}
echo "results in $out/ (see $out/analysis_report.txt)"
