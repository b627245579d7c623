#!/usr/bin/env bash
# The GPU check, ready to run whenever a CUDA device is lent (under 8 minutes on one GPU):
#   1. the CUDA test subset:   pytest -m cuda   (tests/test_cuda.py; skipped where there is no CUDA)
#   2. dcl bench for VGG8B (CIFAR-10 shape, batch 128) and ResNet-32 with bp, bp-ckpt, bp-accum,
#      dcl, dcl-s, in fp32 and bf16 (benchmarks/gpu_bench.py): JSON + tables + summary.md
#
#     bash benchmarks/gpu.sh                      # results in benchmarks/results/gpu/
#     bash benchmarks/gpu.sh --out DIR
#     bash benchmarks/gpu.sh --dry-run --out DIR  # CPU, toy sizes (batch 4, 28 px): what the test suite runs
#
# Figures for docs/benchmarks.md: DIR/summary.md (CUDA max allocated of a fresh process per
# method, next to the paper's 1,086 / 747 MiB for VGG8B BP / DCL).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=benchmarks/results/gpu
DRY=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY=(--dry-run); shift ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "gpu.sh: unknown argument $1 (valid: --dry-run, --out DIR)" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
status=0
start=$(date +%s)
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
"$PY" -c "import torch; print('torch', torch.__version__, '| cuda:', torch.cuda.is_available() and torch.cuda.get_device_name(0))"

echo "== CUDA tests (pytest -m cuda)"
if [[ ${#DRY[@]} -gt 0 ]]; then
    # no GPU here: collect the subset (it must import and be found), run nothing
    "$PY" -m pytest -q -m cuda --collect-only -p no:cacheprovider tests/test_cuda.py | tee "$OUT/cuda-tests.txt"
else
    # a failing test is reported (and sets the exit status) but does not stop the benchmark
    "$PY" -m pytest -q -m cuda -p no:cacheprovider tests/ 2>&1 | tee "$OUT/cuda-tests.txt" || status=1
fi

echo "== dcl bench"
"$PY" benchmarks/gpu_bench.py --out "$OUT" "${DRY[@]}"
echo "== done in $(( $(date +%s) - start )) s; results in $OUT (summary.md, *.json, *.txt)"
[[ $status -eq 0 ]] || echo "== the CUDA tests FAILED: $OUT/cuda-tests.txt" >&2
exit $status
