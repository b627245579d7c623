"""The tables of docs/label-embedding.md, generated from the runs kept under
results/label-embedding/ (summary.json of each), so that every number in the doc is backed by a
file. ``python benchmarks/label_embedding/table.py`` prints them; tests/test_label_embedding_doc.py
checks that the doc holds exactly this output between its ``<!-- results:begin -->`` and
``<!-- results:end -->`` markers.

* done-when: each member, one epoch on MNIST with its own inference (the method's default
  prediction mode), no validation split: ``test_error`` after the epoch;
* comparison: for every grid ``<arch>-<data>-e<epochs>``, every method's test error at the epoch
  with the lowest validation error (``test_error_at_best_val``), mean and sample standard
  deviation over the seeds kept, and how many seeds that is.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results" / "label-embedding"
#: each member's own inference, the method's default prediction mode (methods/<member>.py)
OWN = {"lls": "head", "lls-m": "head", "cwc": "goodness", "deeperforward": "goodness"}
ORDER = ["lls", "lls-m", "cwc", "deeperforward", "mono-forward", "spela", "hff", "sll", "dcl", "dcl-s", "dcl-ld", "bp"]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def done_when_table(results: Path = RESULTS) -> str:
    rows = ["| method | network | lr | inference | test error after 1 epoch | block errors | s/epoch |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for path in sorted((results / "done-when").glob("*/summary.json"), key=lambda p: _key(p.parent.name)):
        s = load(path)
        blocks = ", ".join(f"{e:.2f}" for e in s.get("layer_test_errors") or [])
        mode = OWN.get(s["method"], "last-block")
        rows.append(f"| `{s['method']}` | {s['arch']} | {s['config']['lr']:g} | {mode} | {s['test_error']:.2f} % | {blocks} | "
                    f"{s['seconds_per_epoch']:.1f} |")
    return "\n".join(rows)


def _key(name: str):
    method = next((m for m in sorted(ORDER, key=len, reverse=True) if name.startswith(m)), name)
    return (ORDER.index(method) if method in ORDER else len(ORDER), name)


def comparison_table(results: Path = RESULTS) -> str:
    grids = [p for p in results.iterdir() if p.is_dir() and p.name != "done-when"] if results.is_dir() else []
    grids.sort(key=lambda p: (p.name.split("-")[0], "fashion" in p.name, p.name))  # MNIST before Fashion-MNIST
    if not grids:
        return "(no comparison runs kept yet)"
    cells: dict[str, dict[str, str]] = {}
    for grid in grids:
        for mdir in grid.iterdir():
            errs = [load(p)["test_error_at_best_val"] for p in sorted(mdir.glob("seed*/summary.json"))]
            if errs:
                sd = f" ± {statistics.stdev(errs):.2f}" if len(errs) > 1 else ""
                cells.setdefault(mdir.name, {})[grid.name] = f"{statistics.mean(errs):.2f}{sd} ({len(errs)})"
    names = [g.name for g in grids]
    rows = ["| method | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for m in sorted(cells, key=_key):
        rows.append(f"| `{m}` | " + " | ".join(cells[m].get(g, "not run") for g in names) + " |")
    return "\n".join(rows)


def render(results: Path = RESULTS) -> str:
    return ("One epoch on MNIST, each member's own inference (results/label-embedding/done-when/):\n\n"
            + done_when_table(results)
            + "\n\nTest error (%) at the best epoch on a 5,000-image validation split, mean ± sample sd over the "
              "seeds kept (how many in brackets; no sd for one) "
              "(results/label-embedding/<grid>/<method>/seed<s>/):\n\n"
            + comparison_table(results) + "\n")


def doc_block(doc: Path) -> str:
    text = doc.read_text()
    return text.split("<!-- results:begin -->\n", 1)[1].split("<!-- results:end -->", 1)[0]


if __name__ == "__main__":
    out = render()
    if len(sys.argv) > 1 and sys.argv[1] == "--write":
        doc = ROOT / "docs" / "label-embedding.md"
        text = doc.read_text()
        head, rest = text.split("<!-- results:begin -->\n", 1)
        tail = rest.split("<!-- results:end -->", 1)[1]
        doc.write_text(head + "<!-- results:begin -->\n" + out + "<!-- results:end -->" + tail)
    else:
        print(out, end="")
