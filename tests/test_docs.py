"""The docs stand on their own: every page a doc links to or names (`*.md`) is in the
repository, every source, test or script path it names exists, no doc carries a developer's
machine path or an issue number, the README says where to start, and the README's figures about
the tests equal what the tests hold."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "benchmarks").rglob("*.md")),
        *sorted((ROOT / "examples").rglob("*.md"))]
#: files of the repository a doc may name by file name alone
NAMES = {p.name for p in ROOT.rglob("*") if ".git" not in p.parts and ".venv" not in p.parts}
#: the folders a path written in a doc may be relative to
BASES = (ROOT, ROOT / "src", ROOT / "src" / "dcl", ROOT / "benchmarks")
#: output files that commands in the docs write (not repository files)
OUTPUTS = re.compile(r"^(table\d\w*(-\w+)*|summary|TABLE\w*|-b128-lean)\.md$")


def doc_text(path: Path) -> str:
    return path.read_text()


def test_every_link_and_named_page_is_in_the_repository():
    bad = []
    for doc in DOCS:
        text = doc_text(doc)
        prose = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold code, not links
        for m in re.finditer(r"\]\(([^)#\s]+)(#[^)]*)?\)", prose):  # [text](target)
            target = m.group(1)
            if not target.startswith(("http://", "https://")) and not (doc.parent / target).exists():
                bad.append(f"{doc.name}: link to {target}")
        for m in re.finditer(r"(?<![\w/.-])([\w-]+\.md)\b", text):  # a page named by its file name
            if m.group(1) not in NAMES and not OUTPUTS.match(m.group(1)):
                bad.append(f"{doc.name}: names {m.group(1)}")
    assert not bad, "\n".join(bad)


def test_every_source_test_and_script_path_exists():
    bad = []
    for doc in DOCS:
        for m in re.finditer(r"(?<![\w/.$-])((?:src|tests|benchmarks|examples|dcl|docs)/[\w./-]*[\w-]\.(?:py|sh|toml|md))\b",
                             doc_text(doc)):
            path = m.group(1)
            if "NAME" in path:  # a placeholder: methods/NAME.py
                continue
            if not any((base / path).exists() for base in (*BASES, doc.parent)):
                bad.append(f"{doc.name}: {path}")
    assert not bad, "\n".join(bad)


def test_no_machine_paths_and_no_issue_numbers():
    bad = []
    for doc in DOCS:
        text = doc_text(doc)
        for m in re.finditer(r"(?<![\w.])/(work|home|root|Users|tmp)/[\w.-]+", text):
            bad.append(f"{doc.name}: machine path {m.group(0)}")
        for m in re.finditer(r"\.\./shared\b|\bDEVELOPERS\.md\b|\bARCHITECTURE\.md\b", text):  # outside the repository
            bad.append(f"{doc.name}: {m.group(0)}")
        for m in re.finditer(r"(?i)\bissues?[ -]#?\d+|\bissue #\d+", text):
            bad.append(f"{doc.name}: {m.group(0)}")
        for m in re.finditer(r"\bREFERENCE(-[A-Z]+)?\b", text):  # notes that are not in the repository
            bad.append(f"{doc.name}: {m.group(0)}")
    assert not bad, "\n".join(bad)


def test_the_readme_has_a_start_here_path():
    text = doc_text(ROOT / "README.md")
    start = text.index("## Start here")
    section = text[start:text.index("\n## ", start + 1)]
    assert "make demo" in section and section.index("make demo") < section.index("docs/experiments.md")
    for page in re.findall(r"\]\((docs/[\w-]+\.md)\)", section):
        assert (ROOT / page).is_file(), page
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", section))
    assert linked == {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}, "every page of docs/ is on the path"


def test_the_readmes_figures_about_the_tests_are_what_the_tests_hold():
    import test_bad_inputs as bad
    import test_parallel
    text = " ".join(doc_text(ROOT / "README.md").split())
    m = re.search(r"a table of (\d+) bad inputs through the command line, (\d+) of them also as real processes, "
                  r"and (\d+) through the Python API", text)
    assert m, "the README's sentence about tests/test_bad_inputs.py changed: update this test"
    assert tuple(map(int, m.groups())) == (len(bad.CLI), len(bad.SUB), len(bad.API))
    assert "rtol 1e-5 and atol 1e-6" in text
    source = Path(test_parallel.__file__).read_text()
    assert "rtol=1e-5, atol=1e-6" in source


#: the pages whose Python blocks a test runs as written: test_readme.py (README, experiments,
#: datasets), test_split.py (architectures), test_plugins.py (own-method)
RUN_BY_TESTS = {"README.md", "experiments.md", "datasets.md", "architectures.md", "own-method.md"}


def test_every_python_block_runs_in_a_test_or_is_marked_a_long_job():
    from test_readme import blocks
    bad = []
    for doc in DOCS:
        for i, code in enumerate(blocks(doc, "python"), start=1):
            if doc.name in RUN_BY_TESTS:
                continue
            lines = code.strip().splitlines()
            comment = " ".join(line for line in lines[:next((k for k, l in enumerate(lines)
                                                             if not l.startswith("#")), len(lines))])
            if not re.match(r"# long job: .*\b(min|minutes|hours?)\b", comment):
                bad.append(f"{doc.name} block {i}: neither run by a test nor marked '# long job: <how long>'")
    assert not bad, "\n".join(bad)
