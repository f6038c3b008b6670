"""The shape of the engine: no import circle (every import counted, deferred ones too), a registry
that imports nothing of the engine, and a top level that stays small."""

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _import_cycles():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "bench" / "import_cycles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_engine_has_no_import_cycle():
    tool = _import_cycles()
    edges = tool.graph()
    assert "engine.pipeline" in edges and "engine.registry" in edges["engine.methods.weights"]
    assert tool.cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    tool = _import_cycles()
    assert tool.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_registry_imports_nothing_of_the_engine():
    tree = ast.parse((ROOT / "engine" / "registry.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [name for name in imported if name and name.split(".")[0] == "engine"]


def test_the_top_level_stays_small():
    modules = [p.name for p in (ROOT / "engine").glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= 18, sorted(modules)


def test_every_entry_point_imports_first_in_a_fresh_interpreter():
    """A circle the graph misses would surface here as an ImportError of a partly initialised module."""
    import subprocess
    import sys

    for module in ("engine.cli", "engine.worker", "engine.records", "engine.methods", "engine.runtimes.interface",
                   "engine.reports"):
        done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, (module, done.stderr[-2000:])
