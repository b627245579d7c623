"""The install lines of the README and the docs (and the hints in error messages) name the
distribution of pyproject.toml, `dcl-local`: `dcl` on PyPI is an unrelated package, so a
`pip install dcl...` would install the wrong thing. The import name and the command stay `dcl`."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NAME = PROJECT["name"]
EXTRAS = set(PROJECT["optional-dependencies"])


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def install_commands() -> list[tuple[str, str]]:
    """``(file, command)`` for every `pip install ...` in README.md, docs/ and the sources."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "src").rglob("*.py")),
             ROOT / "Makefile"]
    found = []
    for path in files:
        for line in path.read_text().splitlines():
            for m in re.finditer(r"pip install ([^`#;)\n]*)", line):
                found.append((path.name, m.group(1).strip()))
    return found


def requirements(command: str) -> list[str]:
    words = [a or b for a, b in re.findall(r"'([^']*)'|([^\s'\"]+)", command)]
    return [w for w in words if not w.startswith("-") and not w.startswith("$")]


def test_the_distribution_is_not_called_dcl_and_the_command_is():
    assert normalized(NAME) == "dcl-local"
    assert PROJECT["scripts"] == {"dcl": "dcl.cli:run"}
    assert (ROOT / "src" / "dcl" / "__init__.py").is_file()


def test_every_install_command_names_this_distribution_or_the_clone():
    commands = install_commands()
    assert len(commands) >= 10
    for where, command in commands:
        for req in requirements(command):
            name = re.match(r"[A-Za-z0-9._-]*", req).group(0)
            assert normalized(name) != "dcl", f"{where}: `pip install {command}` names PyPI's unrelated dcl"
            extras = re.search(r"\[([^\]]*)\]", req)
            if extras:
                assert req.startswith(".") or normalized(name) == normalized(NAME), (where, command)
                assert set(extras.group(1).split(",")) <= EXTRAS, (where, command)


def test_the_readme_installs_from_the_clone_and_from_a_git_url():
    readme = [c for w, c in install_commands() if w == "README.md"]
    assert any(c.startswith("-e '.[") for c in readme), readme
    assert any(re.match(rf"'{re.escape(NAME)}\[[a-z,]+\] @ git\+", c) for c in readme), readme
    text = (ROOT / "README.md").read_text()
    assert f"**`{NAME}`**" in text and "import" in text
