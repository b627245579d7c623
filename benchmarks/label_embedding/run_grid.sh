#!/bin/bash
# The label-embedding comparison (docs/label-embedding.md): every method on the same network,
# data, recipe (the arch-data preset), epoch budget and seeds, with a 5,000-image validation
# split that picks the best epoch. Keeps only summary.json and config.toml of each run under
# results/label-embedding/<arch>-<data>-e<epochs>/<method>/seed<s>/; a run already kept is skipped.
#   benchmarks/label_embedding/run_grid.sh EPOCHS "fc-mnist fc-fashion-mnist" "0 1 2"
set -u
cd "$(dirname "$0")/../.."
EPOCHS=$1; GRIDS=$2; SEEDS=${3:-"0 1 2"}
METHODS=${METHODS:-"lls lls-m cwc deeperforward mono-forward spela hff sll dcl dcl-s dcl-ld bp"}
PY=${PY:-python}
for seed in $SEEDS; do
  for grid in $GRIDS; do
    arch=${grid%%-*}; data=${grid#*-}
    for m in $METHODS; do
      keep=results/label-embedding/$grid-e$EPOCHS/$m/seed$seed
      [ -f "$keep/summary.json" ] && continue
      tmp=$(mktemp -d)
      start=$(date +%s)
      $PY -m dcl train --arch "$arch" --data "$data" --method "$m" --epochs "$EPOCHS" --seed "$seed" \
          --val-split 5000 --out "$tmp/run" > "$tmp/log" 2>&1
      rc=$?
      if [ $rc -eq 0 ]; then
        mkdir -p "$keep" && cp "$tmp/run/summary.json" "$tmp/run/config.toml" "$keep/"
        echo "$grid $m seed$seed $(( $(date +%s) - start ))s load [$(cut -d' ' -f1-3 /proc/loadavg)]" >> results/label-embedding/runs.log
      else
        echo "FAILED $grid $m seed$seed rc=$rc: $(tail -1 "$tmp/log")" >> results/label-embedding/runs.log
      fi
      rm -rf "$tmp"
    done
  done
done
