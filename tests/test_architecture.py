"""The shape of hub_core, enforced: stages import only downward (function-level imports
included), no module imports itself round a circle, and no function is longer than 80 lines.

    common 0 < plugin 1 < model 2 < data 3 < train, deploy, share 4 < cli 5 < api, testing 6

train and deploy are siblings: neither imports the other (share, which publishes model
directories, is a third). hub_core/tasks is no stage: it is
the core's built-in plugin, importing only hub_core.api (tests/test_api_surface.py).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "hub_core"
RANKS = {"common": 0, "plugin": 1, "model": 2, "data": 3, "train": 4, "deploy": 4, "share": 4, "cli": 5}
TOP = 6  # hub_core.api, hub_core.testing, hub_core/__init__ and __main__ sit on every stage; so does the
# built-in plugin hub_core.tasks, which like every plugin imports hub_core.api only
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def rank(module: str) -> int:
    parts = module.split(".")
    return RANKS.get(parts[1], TOP) if len(parts) > 1 else TOP


def imports(module: str) -> set[str]:
    """The hub_core modules ``module`` imports, at module level or inside functions."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # "from hub_core.common import atomic": the module atomic, when it is one
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        # the package itself (its __version__) is no stage: every import of hub_core.x runs it anyway
        found.update(name for name in names if name in MODULES and name not in (module, "hub_core"))
    return found


GRAPH = {module: imports(module) for module in MODULES}


def test_every_stage_imports_only_downward():
    upward = [f"{m} (rank {rank(m)}) imports {t} (rank {rank(t)})"
              for m, targets in GRAPH.items() for t in sorted(targets) if rank(t) > rank(m)]
    assert not upward, "\n".join(upward)


def test_training_and_deployment_are_siblings():
    """deploy/ (export, runtime, serving), train/ and share/ (push, pull) share the stages below
    them, never each other."""
    siblings = {"train", "deploy", "share"}
    crossing = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in sorted(targets)
                if len({m.split(".")[1:2][0] if "." in m else "", t.split(".")[1]} & siblings) == 2]
    assert not crossing, "\n".join(crossing)


def test_no_import_circle():
    circles, state = [], {}

    def visit(module, trail):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                circles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(circles)


def test_no_function_is_longer_than_80_lines():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {lines} lines")
    assert not long, "\n".join(long)


def test_the_checks_see_every_stage():
    """A renamed stage would make the rank checks vacuous."""
    stages = {m.split(".")[1] for m in MODULES if m.count(".") >= 1 and (CORE / m.split(".")[1]).is_dir()}
    assert stages == set(RANKS) | {"tasks"}  # tasks: the built-in plugin, held to the plugins' rule instead
