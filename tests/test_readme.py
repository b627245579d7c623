"""The README runs as written: every Python block (and those of docs/experiments.md and the
register_dataset example of docs/datasets.md) is executed, and every `dcl ...` command line
of the README and the docs parses with the real command line."""
import shlex
from pathlib import Path

import pytest
import torch

from dcl.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "experiments.md", ROOT / "docs" / "datasets.md"]
#: pages whose `dcl ...` lines are parsed but whose Python blocks run elsewhere (test_plugins.py)
COMMAND_DOCS = DOCS + [ROOT / "docs" / "own-method.md"]


def blocks(path: Path, lang: str) -> list[str]:
    """The fenced code blocks of ``path`` whose info string is ``lang`` ("" for plain ones)."""
    found, current, info = [], None, None
    for line in (path.read_text() if path.exists() else "").splitlines():
        if line.startswith("```"):
            if current is None:
                current, info = [], line[3:].strip()
            else:
                if info == lang:
                    found.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return found


def python_blocks() -> list[tuple[str, str]]:
    """Every Python block but README's make_local example, which is docs/architectures.md's
    block word for word (tests/test_split.py runs that one)."""
    arch = blocks(ROOT / "docs" / "architectures.md", "python")
    return [(f"{p.name}#{i}", code) for p in DOCS for i, code in enumerate(blocks(p, "python"), start=1)
            if code not in arch]


def test_readmes_make_local_example_is_the_one_test_split_runs():
    readme = [b for b in blocks(ROOT / "README.md", "python") if "make_local(" in b]
    assert readme and all(b in blocks(ROOT / "docs" / "architectures.md", "python") for b in readme)


def test_the_readme_says_how_to_get_a_working_shell():
    text = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in text and "export DCL_DATA_DIR=" in text


def test_every_dcl_command_in_the_docs_parses():
    parser = build_parser()
    commands = [line for p in COMMAND_DOCS for b in blocks(p, "") for line in b.splitlines()
                if line.strip().startswith("dcl ")]
    assert len(commands) >= 15
    for line in commands:
        argv = shlex.split(line, comments=True)[1:]
        argv = argv[:argv.index(">")] if ">" in argv else argv      # a shell redirection
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"this documented command does not parse: {line}")


@pytest.fixture(scope="module")
def docs_data_dir(tmp_path_factory, real_data_dir):
    """The real MNIST, also as `my-digits` (docs/datasets.md registers that name)."""
    d = tmp_path_factory.mktemp("docs-data")
    for name in ("mnist", "my-digits"):
        (d / name).symlink_to(real_data_dir / "mnist", target_is_directory=True)
    return d


@pytest.mark.parametrize("name, code", python_blocks(), ids=[n for n, _ in python_blocks()])
def test_python_block_runs_as_written(name, code, docs_data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DCL_DATA_DIR", str(docs_data_dir))
    monkeypatch.chdir(tmp_path)                     # a fresh clone: no runs/ yet
    torch.manual_seed(0)
    ns: dict = {"__name__": "__readme__"}
    exec(compile(code, name, "exec"), ns)
    out = capsys.readouterr().out
    if "summary" in ns:
        s = ns["summary"]
        assert s["epochs"] >= 1 and 0 <= s["test_error"] < 90, (name, s["test_error"])
    if name == "README.md#1":
        assert (tmp_path / "runs" / "fc-dcl-py" / "summary.json").is_file()
        assert ns["loss"].dim() == 0 and torch.isfinite(ns["loss"])
    if name == "README.md#2":
        assert ns["summary"]["data"] == "custom" and ns["summary"]["test_error"] < 50
    if name == "experiments.md#2":
        assert "ensemble" in out and len(ns["pred"].classes) == 8
