#!/usr/bin/env bash
# The measurements behind docs/benchmarks.md, tables F1-F2 and T1-T3. Run from the repository root:
#     bash benchmarks/run.sh            # all of them (about 2 hours on 2 quiet cores)
#     bash benchmarks/run.sh vgg8b      # only the runs whose name contains "vgg8b"
# Each run prints its table and writes benchmarks/results/<name>.json (the --json rows) and
# <name>.txt (the table). Check `cat /proc/loadavg` first: timings need a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DCL=${DCL:-.venv/bin/dcl}
OUT=benchmarks/results
mkdir -p "$OUT"
only=${1:-}

bench() {  # name, then dcl bench arguments
    local name=$1; shift
    [[ -n "$only" && "$name" != *"$only"* ]] && return 0
    echo "== $name: dcl bench $*  (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$DCL" bench "$@" --json > "$OUT/$name.json.tmp"   # an interrupted run leaves the old result
    mv "$OUT/$name.json.tmp" "$OUT/$name.json"
    .venv/bin/python -c "import json,sys; from dcl.bench import format_table; print(format_table(json.load(open(sys.argv[1]))))" \
        "$OUT/$name.json" | tee "$OUT/$name.txt"
}

frontier() {  # name, then dcl bench arguments (--frontier added): JSON, table, PNG in docs/img/
    local name=$1; shift
    [[ -n "$only" && "$name" != *"$only"* ]] && return 0
    echo "== $name: dcl bench $* --frontier  (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    mkdir -p docs/img
    "$DCL" bench "$@" --frontier --json --plot "docs/img/$name.png" > "$OUT/$name.json.tmp"
    mv "$OUT/$name.json.tmp" "$OUT/$name.json"
    .venv/bin/python -c "import json,sys; from dcl.bench import format_frontier; print(format_frontier(json.load(open(sys.argv[1]))))" \
        "$OUT/$name.json" | tee "$OUT/$name.txt"
}

# F1, F2: the memory-throughput frontier (bp, bp-ckpt, bp-accum, dcl, dcl-s at M = 1, 2, 4, 8)
frontier frontier-conv-cifar10-b128  --arch conv  --data cifar10 --batch-size 128 --methods bp,bp-ckpt,bp-accum,dcl,dcl-s --steps 3 --repeats 5 --threads 1
frontier frontier-vgg8b-cifar10-b128 --arch vgg8b --data cifar10 --batch-size 128 --methods bp,bp-ckpt,bp-accum,dcl,dcl-s --steps 1 --repeats 3 --threads 1 --no-isolated
# T1: VGG8B, CIFAR-10 shape (3x32x32), batch 128 - the paper's Table 4 setting
bench vgg8b-cifar10-b128    --arch vgg8b --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 1 --repeats 5
bench vgg8b-cifar10-b128-cl --arch vgg8b --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 1 --repeats 5 --channels-last
bench vgg8b-cifar10-b128-cl-t1 --arch vgg8b --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 1 --repeats 5 --channels-last --threads 1
# T2: Conv (64, 256), CIFAR-10 shape, batch 128
bench conv-cifar10-b128     --arch conv --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 3 --repeats 5
bench conv-cifar10-b128-cl  --arch conv --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 3 --repeats 5 --channels-last
bench conv-cifar10-b128-cl-t1  --arch conv --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 3 --repeats 7 --channels-last --threads 1
# T3: FC (3072 wide, K=48), CIFAR-10 shape, batch 128
bench fc-cifar10-b128       --arch fc --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 3 --repeats 5
bench fc-cifar10-b128-t1       --arch fc --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 5 --repeats 9 --threads 1
# The same settings with the lean layers (the default since issue 15; the files above were
# measured with torch's plain layers before it): for docs/benchmarks.md, "Targets"
bench conv-cifar10-b128-cl-t1-lean  --arch conv  --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 3 --repeats 7 --channels-last --threads 1
for r in 1 2 3; do  # three runs: the spread under a shared machine's load (docs: T3')
    bench fc-cifar10-b128-t1-lean-$r --arch fc --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 5 --repeats 9 --threads 1
done
bench vgg8b-cifar10-b128-cl-t1-lean --arch vgg8b --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s --steps 1 --repeats 5 --channels-last --threads 1
