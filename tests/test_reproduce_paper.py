"""The paper's numbers (src/dcl/reproduce/paper.toml): every table is there, every number
parses, every source is unique, and every printed row is found, token for token, in its table
in the paper's text."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from dcl.errors import DCLError
from dcl.reproduce.paper import build_table, dataset_sizes, get_table, load_tables

PAPER_TEXT = Path(__file__).resolve().parents[2] / "shared" / "paper" / "dcl-paper.txt"
TABLES = {"table1", "table2", "table3", "table4", "table5", "tableI", "tableII", "tableIII", "tableIV", "tableV"}
FIGURES = {"fig1", "fig3", "fig4", "figII", "figIII", "figIV", "figV"}


def test_every_table_and_figure_is_present():
    tables = load_tables()
    assert set(tables) == TABLES | FIGURES
    for name in TABLES:
        assert tables[name].printed and tables[name].numbers, name
    for name in FIGURES:
        assert not tables[name].printed and not tables[name].numbers, name


def test_numbers_parse_and_sources_are_unique():
    sources = []
    for t in load_tables().values():
        carriers, others = (t.cols, t.rows) if t.printed_by == "cols" else (t.rows, t.cols)
        printed = [a for a in carriers if a.printed is not None]
        # every printed row gives one value of each kind for every entry of the other axis
        assert len(t.numbers) == len(printed) * len(others) * len(t.values), t.name
        for (row, col, kind), v in t.numbers.items():
            t.row(row), t.col(col)
            assert math.isfinite(v.value) and v.value >= 0, v
            if kind in ("err", "err_pm"):
                assert 0 < v.value < 100, v
            if kind == "memory":
                assert 500 <= v.value <= 15000, v      # the paper's MiB range
            if kind == "err_pm":
                assert v.std is not None and 0 < v.std < 1, v
            assert v.source.startswith(t.source + ";"), v.source
            sources.append(v.source + f" [{kind}]")
    assert len(sources) == len(set(sources))


def test_printed_forms_parse_as_the_paper_means_them():
    t = build_table("t", {
        "values": ["params", "err"], "rows": [{"key": "a"}, {"key": "b"}],
        "cols": [{"key": "x", "printed": "1.87M *65.02 152K 1.20"}]})
    a, b = t.paper_value("a", "x", "params"), t.paper_value("a", "x", "err")
    assert (a.value, b.value, b.replicated) == (1_870_000, 65.02, True)
    assert (t.paper_value("b", "x", "params").value, t.paper_value("b", "x", "err").replicated) == (152_000, False)
    m = build_table("m", {"values": ["dparams", "memory"], "rows": [{"key": "a"}, {"key": "b"}],
                          "cols": [{"key": "x", "printed": "0.64K 1291MiB 5.12K 747 MiB"}]})
    assert m.paper_value("a", "x", "dparams").value == 640 and m.paper_value("a", "x", "memory").value == 1291
    with pytest.raises(DCLError, match="not 2 x"):   # a missing number is caught, not shifted
        build_table("bad", {"values": ["err"], "rows": [{"key": "a"}, {"key": "b"}],
                            "cols": [{"key": "x", "printed": "1.29"}]})


def _table_region(lines: list[str], source: str) -> list[str]:
    """The lines of the paper from a table's caption to the next caption or section."""
    start = next(i for i, line in enumerate(lines) if line.startswith(source + ":"))
    region = []
    for line in lines[start + 1:]:
        if re.match(r"(Table [0-9IVX]+:|Figure |[0-9A-K](\.[0-9])* [A-Z]{3})", line):
            break
        region.append(line)
    return region


def _normalise(line: str) -> str:
    """A paper line without markup: underline/italic tags, $\\mathcal{L}_{\\text{x}}$ -> L_x, typos."""
    line = re.sub(r"</?[ui]>", "", line)
    line = re.sub(r"\$\\mathcal\{L\}_\{\\text\{(\w+)\}\}\$", r"L_\1", line)
    line = line.replace("$pool_l$", "pool_l").replace("CIAFR", "CIFAR")
    return " ".join(line.split())


@pytest.mark.skipif(not PAPER_TEXT.is_file(), reason="the paper's text (../shared/paper) is not here")
def test_every_printed_row_is_in_the_paper_text():
    """Each printed row is the end of a line of its table whose label is the entry's, and the
    other axis' labels appear in the table's header in our order (so no number is shifted)."""
    lines = PAPER_TEXT.read_text(encoding="utf-8").splitlines()
    checked = 0
    for t in load_tables().values():
        if not t.printed:
            continue
        region = [_normalise(line) for line in _table_region(lines, t.source)]
        carriers, others = (t.cols, t.rows) if t.printed_by == "cols" else (t.rows, t.cols)
        order = ".*".join(re.escape(a.label) for a in others)
        assert any(re.search(order, line) for line in region), f"{t.source}: header order {order}"
        for axis in carriers:
            if axis.printed is None:
                continue
            want = " ".join(axis.printed.split())
            hits = [line[: -len(want)].strip() for line in region if line.endswith(" " + want)]
            assert hits, f"{t.source}, {axis.label}: {want!r} not in the table"
            assert any(h.endswith(axis.label) for h in hits), f"{t.source}: {want!r} is on row {hits}, not {axis.label}"
            checked += 1
    assert checked == 44


def test_dataset_sizes_and_lookup():
    sizes = dataset_sizes()
    assert sizes["svhn"] == (73257 + 531131, 26032)
    assert get_table("TABLEii").name == "tableII"
    with pytest.raises(DCLError, match="unknown table 'table9'"):
        get_table("table9")


def test_every_table_that_trains_has_a_gpu_hours_estimate():
    """FLOPs are counted on the plain equivalent of the lean layers: no train table shows 0."""
    from dcl.reproduce import list_tables
    rows = list_tables()
    for r in rows:
        assert r["uncounted_runs"] == 0, r["table"]
        if r["kind"] == "train" and r["runs"]:
            assert r["gpu_hours"] > 0, r["table"]
    table3 = next(r for r in rows if r["table"] == "table3")
    assert table3["gpu_hours"] > 50  # 48 VGG8B cells at the paper's budget
