"""The memory-throughput frontier (dcl bench --frontier) and the GPU check's dry run."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dcl.bench import frontier_summary, frontier_variants
from dcl.cli import main
from dcl.errors import DCLError

ROOT = Path(__file__).resolve().parents[1]


def test_frontier_points_follow_what_each_method_can_take():
    labels = [v.label for v in frontier_variants(["bp", "bp-accum", "bp-ckpt", "dcl"], [4, 1, 2])]
    assert labels == ["bp", "bp-accum M=2", "bp-accum M=4", "bp-ckpt", "bp-ckpt M=2", "bp-ckpt M=4",
                      "dcl", "dcl M=2", "dcl M=4"]
    assert frontier_variants(["dcl"], [2])[0].overrides == {"micro_batches": 2}
    with pytest.raises(DCLError, match="positive"):
        frontier_variants(["dcl"], [0, 2])


def row(method, m, mem, sps):
    return {"method": method, "label": f"{method} M={m}", "micro_batches": m, "peak_memory_mb": mem,
            "samples_per_second": sps}


def test_frontier_summary_compares_the_best_that_fits_each_budget():
    rows = [row("bp", 1, 600, 10.0), row("bp-accum", 4, 250, 9.0), row("bp-ckpt", 1, 330, 7.0),
            row("dcl", 1, 300, 13.0), row("dcl", 4, 200, 12.0)]
    s = frontier_summary(rows)
    got = [(b["budget_mb"], round(b["ratio"], 3), b["point"], b["baseline"]) for b in s["budgets"]["dcl"]]
    # 200 MiB: no baseline fits; 250: dcl M=4 (12) vs bp-accum (9); 300: dcl (13) vs bp-accum (9); ...
    assert got == [(250, round(12 / 9, 3), "dcl M=4", "bp-accum M=4"), (300, round(13 / 9, 3), "dcl M=1", "bp-accum M=4"),
                   (330, round(13 / 9, 3), "dcl M=1", "bp-accum M=4"), (600, 1.3, "dcl M=1", "bp M=1")]
    assert s["min_ratio"]["dcl"] == pytest.approx(1.3) and s["min_at"]["dcl"] == 600


def test_bench_frontier_cli_prints_the_table_and_draws_the_png(tmp_path, capsys):
    png = tmp_path / "f.png"
    code = main(["bench", "--arch", "fc", "--data", "mnist", "--batch-size", "8", "--methods", "bp,bp-accum,dcl",
                 "--frontier", "--micro-batches", "1,2", "--steps", "1", "--repeats", "1", "--warmup", "0",
                 "--no-isolated", "--threads", "1", "--set", "width=32", "--set", "segments=4", "--plot", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    assert "bp-accum M=2" in out and "dcl M=2" in out and "dcl / best of bp/bp-ckpt/bp-accum" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["bench", "--arch", "fc", "--data", "mnist", "--batch-size", "8", "--plot", "x.png"]) == 2


def test_gpu_check_dry_run(tmp_path):
    """benchmarks/gpu.sh --dry-run: the CUDA subset is found and the benchmark runs (CPU, toy size)."""
    p = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=900,
                       env={"PATH": "/usr/bin:/bin", "PY": sys.executable, "DCL_CACHE_DIR": str(tmp_path / "c")})
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "tests/test_cuda.py::" in (tmp_path / "cuda-tests.txt").read_text()
    summary = (tmp_path / "summary.md").read_text()
    for arch in ("vgg8b", "resnet32"):
        rows = json.loads((tmp_path / f"{arch}-fp32.json").read_text())
        assert [r["label"] for r in rows] == ["bp", "bp-ckpt", "bp-accum", "dcl", "dcl-s"]
        assert all(f"| {arch} | fp32 | {m} |" in summary for m in ("bp", "bp-ckpt", "bp-accum", "dcl", "dcl-s"))
    assert "| resnet32 | bf16 | dcl |" in summary
