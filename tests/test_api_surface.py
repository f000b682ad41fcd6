"""The plugin API has an edge: first-party plugins and the example plugin import only
``hub_core.api`` (or ``hub_core`` itself), and every name the API lists resolves."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import hub_core
from hub_core import api

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted([p for p in (ROOT / "plugins").glob("hub_*/hub_*") if p.is_dir()]
                  + [ROOT / "examples" / "hub-plugin-example" / "hub_tabular"])
ALLOWED = {"hub_core", "hub_core.api"}


def private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """'file:line: module' for each import of hub_core other than its public surface."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
            if node.module == "hub_core":  # `from hub_core import api` is fine; `import common` is not
                modules = [f"hub_core.{a.name}" for a in node.names if a.name not in api.EXPORTS]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        found += [f"{path.relative_to(root)}:{node.lineno}: {m}" for m in modules
                  if (m == "hub_core" or m.startswith("hub_core.")) and m not in ALLOWED]
    return found


def test_plugins_import_only_the_public_api():
    sources = [f for package in PACKAGES for f in sorted(package.rglob("*.py"))]
    assert len(sources) > 50, PACKAGES
    offenders = [hit for f in sources for hit in private_imports(f)]
    assert not offenders, "plugins must import only hub_core.api:\n" + "\n".join(offenders)


def test_the_core_tasks_are_a_plugin_under_the_same_rule():
    """hub_core/tasks is the core's built-in plugin: like any other it imports hub_core.api
    (and its own modules), and no stage of the core imports it."""
    sources = sorted((ROOT / "hub_core" / "tasks").rglob("*.py"))
    offenders = [hit for f in sources for hit in private_imports(f) if not hit.split(": ")[1].startswith("hub_core.tasks")]
    assert len(sources) >= 6 and not offenders, "\n".join(offenders)
    core = [f for f in sorted((ROOT / "hub_core").rglob("*.py"))
            if "tasks" not in f.parts and f.name not in ("api.py", "testing.py")]
    importers = [f"{f.relative_to(ROOT)}" for f in core if "hub_core.tasks" in f.read_text()
                 and f.relative_to(ROOT).as_posix() != "hub_core/plugin/manager.py"]
    assert not importers, importers  # the manager names the built-in plugin's module, as an entry point would


def test_string_factories_point_into_the_plugin_that_registers_them():
    """A factory given as "module:attr" names a module of the registering plugin's own package
    (the core plugin's: hub_core.tasks), so lazy imports never cross into another plugin or
    into the core's private stages."""
    from hub_core.plugin.manager import load_hub

    hub = load_hub(with_registries=False)
    packages = {name: record.module.split(".")[0] if not record.module.startswith("hub_core.")
                else "hub_core.tasks" for name, record in hub.plugins.items()}
    crossing = []
    for kind, table in hub.catalogue.entries.items():
        for name, entry in table.items():
            for field in ("factory", "reader", "preprocessor", "make_data", "ranker"):
                target = getattr(entry.spec, field, None)
                if isinstance(target, str) and entry.plugin in packages \
                        and not target.startswith(packages[entry.plugin] + "."):
                    crossing.append(f"{kind} {name} ({entry.plugin}): {field} {target}")
    assert len(hub.catalogue.entries["task"]) >= 3 and not crossing, "\n".join(crossing)


def test_the_scan_sees_private_imports(tmp_path):
    (tmp_path / "p.py").write_text("from hub_core.api import Backbone\nfrom hub_core import hookimpl\n"
                                   "def f():\n    from hub_core.train.loop import apply_freeze\n"
                                   "import hub_core.common.errors\nfrom hub_core import common\n")
    hits = private_imports(tmp_path / "p.py", tmp_path)
    assert sorted(hits) == ["p.py:4: hub_core.train.loop", "p.py:5: hub_core.common.errors", "p.py:6: hub_core.common"]


@pytest.mark.parametrize("name", sorted(api.EXPORTS))
def test_every_public_name_resolves_and_is_documented(name):
    assert getattr(api, name) is getattr(hub_core, name)
    assert f"\n  {name} " in api.__doc__ or f" {name}," in api.__doc__ or f", {name} " in api.__doc__, \
        f"{name} has no line in hub_core.api's docstring"


def test_importing_the_api_is_cheap():
    code = ("import sys, hub_core.api; from hub_core import hookimpl, BackboneSpec, UsageError, did_you_mean; "
            "print(sorted(m for m in ('torch', 'numpy', 'click') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(api, "nope")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(hub_core, "nope")
