"""docs/label-embedding.md's results are exactly what benchmarks/label_embedding/table.py makes of
the runs kept under results/label-embedding/ (no number in the doc without a file behind it)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def table_module():
    spec = importlib.util.spec_from_file_location("le_table", ROOT / "benchmarks" / "label_embedding" / "table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_results_are_generated_from_the_kept_runs():
    table = table_module()
    assert table.doc_block(ROOT / "docs" / "label-embedding.md") == table.render()


def test_every_kept_run_has_its_config_and_no_checkpoint():
    runs = list((ROOT / "results" / "label-embedding").rglob("summary.json"))
    assert runs
    for summary in runs:
        assert (summary.parent / "config.toml").is_file(), summary
        assert not list(summary.parent.glob("*.pt")), summary


def test_the_family_table_names_every_member():
    text = (ROOT / "docs" / "label-embedding.md").read_text()
    for name in ["lls", "lls-m", "cwc", "deeperforward", "mono-forward", "spela", "hff", "sll"]:
        assert f"| `{name}` |" in text, name
