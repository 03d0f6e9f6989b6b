"""The import graph of src/ (issue 12, item 2): no cycles, hbm never imports hbm_book, and every
third-party import is declared in pyproject.toml.

Every import statement counts, at module level and inside functions (an import deferred into a
function to dodge a cycle is still a cycle). An edge goes to the most specific module named:
``from hbm import data`` is an edge to ``hbm.data``, ``from hbm import glue`` one to ``hbm``.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGES = ("hbm", "hbm_book")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


@cache  # every test walks the same files: parse each once
def _imports(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in a module, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    top_level |= {id(n) for node in tree.body if isinstance(node, (ast.If, ast.Try)) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        at_top = id(node) in top_level
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, at_top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            for alias in node.names:
                found.append((f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module,
                              node.lineno, at_top))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.args[0].value, node.lineno, at_top))
    return found


@cache
def _distributions() -> dict[str, list[str]]:
    """Top-level import name -> the installed distributions providing it (slow to compute: once)."""
    return metadata.packages_distributions()


def _graph() -> dict[str, set[str]]:
    return {name: {target for target, _, _ in _imports(name, path) if target in MODULES}
            for name, path in MODULES.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module, or a module importing itself
    (Tarjan's algorithm), each as a sorted list."""
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_cycle_finder_finds_cycles():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"a"}}) == [["a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_graph_sees_function_level_and_relative_imports(tmp_path):
    assert "hbm.data" in MODULES and "hbm_book" in MODULES
    graph = _graph()
    assert "hbm" in graph["hbm.sampling"]  # `import hbm` at module level (hbm.seed)
    slices = [name for name in MODULES if (SRC / Path(*name.split("."))).is_dir()
              and (SRC / Path(*name.split(".")) / "chapter.toml").is_file()]
    assert slices, "no chapter slices found under src/hbm"
    for name in slices:
        assert graph[name], f"{name}/__init__.py imports nothing from its slice"


def test_no_import_cycles():
    cycles = find_cycles(_graph())
    assert not cycles, "import cycles in src/: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_hbm_never_imports_hbm_book():
    offending = [f"{path.relative_to(ROOT)}:{line} imports {target}"
                 for name, path in MODULES.items() if name.split(".")[0] == "hbm"
                 for target, line, _ in _imports(name, path) if target.split(".")[0] == "hbm_book"]
    assert not offending, offending


# --- third-party imports are declared --------------------------------------------------------------

def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {"base": {r for r in project["dependencies"]}}
    names.update(project.get("optional-dependencies", {}))
    return {group: {_normalise(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs}
            for group, reqs in names.items()}


def _scripts() -> set[str]:
    """Modules run as scripts in a process of their own (an ``if __name__ == "__main__":`` block)
    that no module of src/ imports, e.g. the PyStan runner: they are tools, not part of ``import hbm``."""
    imported = set().union(*_graph().values())
    return {name for name, path in MODULES.items()
            if name not in imported and re.search(r"^if __name__ == .__main__.:", path.read_text(), re.M)}


def _third_party(packages: tuple[str, ...], module_level_only: bool) -> dict[str, list[str]]:
    """Top-level third-party import name -> where it is imported (at module level only: scripts left out)."""
    found: dict[str, list[str]] = {}
    scripts = _scripts() if module_level_only else set()
    for name, path in MODULES.items():
        if name.split(".")[0] not in packages or name in scripts:
            continue
        for target, line, at_top in _imports(name, path):
            top = target.split(".")[0]
            if top in sys.stdlib_module_names or top in PACKAGES or (module_level_only and not at_top):
                continue
            found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


@pytest.mark.parametrize("packages, groups, module_level_only", [
    (("hbm",), ("base",), True),             # `import hbm` and its submodules need only the dependencies
    (("hbm",), ("base", "book"), False),     # optional imports inside functions (nutpie, stan, myst_nb)
    (("hbm_book",), ("base", "book"), False),
])
def test_third_party_imports_are_declared(packages, groups, module_level_only):
    declared = set().union(*(_declared()[g] for g in groups))
    distributions = _distributions()
    undeclared = {}
    for top, where in _third_party(packages, module_level_only).items():
        provided_by = {_normalise(d) for d in distributions.get(top, [])}
        if not provided_by & declared:
            undeclared[top] = (sorted(provided_by) or ["not installed"], where[:3])
    assert not undeclared, f"imports of {packages} not declared in pyproject.toml {groups}: {undeclared}"


def test_the_tests_imports_are_declared():
    """tests/ may use the dependencies, [book] and [test]; nothing else."""
    tests = ROOT / "tests"
    local = {p.stem for p in tests.rglob("*.py")}
    declared = set().union(*_declared().values())
    distributions = _distributions()
    undeclared = {}
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for top in {n.split(".")[0] for n in names}:
                if top in sys.stdlib_module_names or top in PACKAGES or top in local:
                    continue
                if not {_normalise(d) for d in distributions.get(top, [])} & declared:
                    undeclared.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not undeclared, f"imports of tests/ not declared in pyproject.toml: {undeclared}"


def test_arviz_reads_the_stamp_that_conftest_writes(tmp_path, monkeypatch):
    """tests/conftest.py writes ArviZ's once-a-day stamp in pytest's main process (so that the workers
    do not race to write it). In a fresh cache folder ArviZ shows its notice; after the stamp, it does
    not, so the stamp is the one ArviZ reads."""
    import importlib.util
    import warnings

    import arviz

    monkeypatch.setattr(arviz, "re", re, raising=False)   # ArviZ deletes its own after the import
    spec = importlib.util.spec_from_file_location("tests_conftest", ROOT / "tests" / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    for folder, expect_notice in (("fresh", True), ("stamped", False)):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / folder))
        if not expect_notice:
            assert conftest.mark_arviz_notice_shown().is_relative_to(tmp_path / folder)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            arviz._warn_once_per_day()
        assert any("ArviZ is undergoing" in str(w.message) for w in caught) == expect_notice, folder
