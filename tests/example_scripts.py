"""The generator scripts of examples/ (not a package) as modules, for tests that need data."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def example(name: str):
    """``example("nlp/generate.py")``: that script, imported as a module."""
    path = ROOT / "examples" / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
