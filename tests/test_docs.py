"""Every fenced code block in README.md and docs/*.md is exercised, so the docs cannot rot.

- ``bash`` blocks, all of them: every ``hub ...`` line (and ``torchrun ... -m hub_core ...``)
  is parsed by the real CLI (the command and every option must exist: the line is run with
  ``--help`` appended, which click answers only after checking the options); ``make X``
  lines name a Makefile target; ``python script.py`` lines name a file that exists. The
  commands themselves run against real data in hub demo, the plugin test below and the
  plugins' own tests.
- ``python`` blocks run (in a temporary folder).
- ``toml`` blocks parse; a ``[train]`` table must be a valid training config.
- a block after ``<!-- doc-file: PATH -->`` is a file of the plugin the plugin guide builds:
  the slow test writes them to a temporary folder, pip-installs the plugin, checks that
  ``hub plugins --json`` and ``hub list --json`` show it, runs the guide's own test file
  (fine-tune, export, predict with onnxruntime), and uninstalls it.
- nothing is skipped: a python block makes the data it needs (the user guide's Python API
  block trains, exports and predicts on a table it writes), and there is no skip marker.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.inject import hub_env, run_hub

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"<!--\s*doc-(test|file):\s*(.*?)\s*-->")  # doc-test: refused below
ILLUSTRATIONS = ("text", "")  # diagrams and sample output, not code


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    code: str
    marker: tuple[str, str] | None  # ("test", "skip (why)") or ("file", "path")

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    found, lines, index, marker = [], doc.read_text(encoding="utf-8").splitlines(), 0, None
    while index < len(lines):
        match = MARKER.search(lines[index])
        if match:
            marker = (match.group(1), match.group(2))
        fence = FENCE.match(lines[index])
        if fence:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            found.append(Block(doc, index + 1, fence.group(1), "\n".join(lines[index + 1:end]) + "\n", marker))
            index, marker = end, None
        index += 1
    return found


ALL = [b for doc in DOCS for b in blocks(doc)]
BASH = ("bash", "sh", "console")
CHECKED = [b for b in ALL if not (b.marker and b.marker[0] == "file") and b.lang not in ILLUSTRATIONS]


def shell_lines(code: str) -> list[list[str]]:
    """The commands of a bash block: continuations joined, comments and env prefixes dropped."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words and re.match(r"^[A-Z_]+=", words[0]):  # HF_HUB_OFFLINE=1 hub ...
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def hub_parses(args: list[str]) -> tuple[int, str]:
    from hub_core.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([*args, "--help"])
        except SystemExit as exit_:
            code = exit_.code or 0
    return code or 0, err.getvalue()


def test_the_docs_exist_and_have_code():
    assert (ROOT / "docs" / "user-guide.md").is_file() and (ROOT / "docs" / "plugin-guide.md").is_file()
    assert len(CHECKED) >= 10 and len(guide_files()) >= 5


@pytest.mark.parametrize("block", [b for b in CHECKED if b.lang in BASH], ids=lambda b: b.where)
def test_bash_block_commands_exist(block):
    makefile = (ROOT / "Makefile").read_text()
    for words in shell_lines(block.code):
        program = words[0]
        if program == "hub":
            code, err = hub_parses(words[1:])
            assert code == 0, f"{block.where}: {' '.join(words)} -> {err.strip()}"
        elif program == "make":
            for target in words[1:]:
                assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"{block.where}: no make target {target}"
        elif program in ("torchrun", "python", ".venv/bin/python") and "hub_core" in words:
            rest = words[words.index("hub_core") + 1:]
            code, err = hub_parses(rest)
            assert code == 0, f"{block.where}: {' '.join(words)} -> {err.strip()}"
        elif program in ("python", ".venv/bin/python", "bash", "sh"):
            script = next((w for w in words[1:] if w.endswith((".py", ".sh"))), None)
            if script:
                assert (ROOT / script).is_file(), f"{block.where}: {script} does not exist"


@pytest.mark.parametrize("block", [b for b in CHECKED if b.lang == "python"], ids=lambda b: b.where)
def test_python_block_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block.code, block.where, "exec"), {"__name__": "__doc_block__"})  # noqa: S102 - our own docs


@pytest.mark.parametrize("block", [b for b in CHECKED if b.lang == "toml"], ids=lambda b: b.where)
def test_toml_block_is_valid(block, tmp_path):
    data = tomllib.loads(block.code)
    if "train" in data:
        from hub_core.train.config import build_config

        path = tmp_path / "config.toml"
        path.write_text(block.code)
        build_config(str(path), {})


def test_every_block_is_checked():
    for block in ALL:
        assert not (block.marker and block.marker[0] == "test"), f"{block.where}: no block is skipped ({block.marker[1]})"
        assert block.lang in (*BASH, "python", "toml", *ILLUSTRATIONS), f"{block.where}: no checker for ```{block.lang} blocks"


# ----------------------------------------------------------------------------- the plugin guide
def guide_files() -> dict[str, str]:
    guide = ROOT / "docs" / "plugin-guide.md"
    return {b.marker[1]: b.code for b in blocks(guide) if b.marker and b.marker[0] == "file"}


def test_the_guide_plugin_is_complete():
    files = guide_files()
    root = "hub-vectors/"
    assert {f"{root}pyproject.toml", f"{root}hub_vectors/plugin.py", f"{root}hub_vectors/data.py",
            f"{root}hub_vectors/backbone.py"} <= set(files)
    assert "[project.entry-points.plughub]" in files[f"{root}pyproject.toml"]
    assert "import torch" not in files[f"{root}hub_vectors/plugin.py"]


@pytest.mark.slow
def test_a_plugin_written_from_the_guide_installs_appears_works_and_uninstalls(tmp_path):
    for name, code in guide_files().items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    plugin = tmp_path / "hub-vectors"
    env = hub_env(tmp_path)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(plugin)],
                   check=True, capture_output=True, text=True, timeout=300)
    try:
        records = {r["name"]: r for r in json.loads(run_hub("plugins", "--json", env=env, cwd=tmp_path).stdout)}
        assert records["vectors"]["errors"] == [] and records["vectors"]["distribution"] == "hub-vectors"
        assert records["vectors"]["registered"]["backbone"] == ["vector/mlp"]
        listed = run_hub("list", "--json", env=env, cwd=tmp_path).stdout
        assert "vector/mlp" in listed and '"vector"' in listed
        # the guide's own test file: fine-tune, export, predict with onnxruntime
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(plugin / "tests")],
                               capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
        assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    finally:
        subprocess.run([*pip, "uninstall", "-y", "-q", "hub-vectors"], capture_output=True, timeout=300)
        for build in plugin.glob("*.egg-info"):
            import shutil

            shutil.rmtree(build, ignore_errors=True)
    assert "vectors" not in run_hub("plugins", "--json", env=env, cwd=tmp_path).stdout
