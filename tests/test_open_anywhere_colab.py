"""Issue 16, item 2: the Colab set-up cell (``hbm_book.colab``), run in a simulated Colab.

The simulated Colab is a fresh virtual environment in which ``hbm`` cannot be imported, with a
fake ``google.colab`` module imported before the first cell (as Colab's kernel does). Installing
PyMC and its stack from PyPI into it would download hundreds of megabytes on every run, so the
environment sees the project's installed third-party packages through a ``.pth`` line naming a
folder of links to them, with everything of the project left out (``hbm``, ``hbm_book``, their
metadata and the editable-install hooks) and with nutpie and PyStan left out too, because Colab's
image has neither. The cell itself is what a reader gets: it runs ``pip install`` of the
requirement in ``$HBM_INSTALL_SOURCE``, here a copy of the repository (offline, no build
isolation), and the test then runs the first cells of every chapter and loads its data sets.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from hbm_book import ROOT, colab

SITE = Path(next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()))
"""The project environment's site-packages."""

NOT_ON_COLAB = ("hbm", "hbm_book", "__editable__", "nutpie", "stan", "pystan", "httpstan", "google")
"""Prefixes of site-packages entries the simulated Colab does not see (the project itself, and
what Colab's image lacks)."""

RUNNER = textwrap.dedent("""
    # Run one notebook's cells as Colab would: google.colab imported first, an IPython shell.
    import importlib.util, json, subprocess, sys

    import google.colab  # noqa: F401  (Colab's kernel imports it before the first cell)

    pip_calls = []
    _run = subprocess.run

    def recording_run(args, *a, **k):
        if "pip" in map(str, args):
            pip_calls.append([str(x) for x in args])
        return _run(args, *a, **k)

    subprocess.run = recording_run
    from IPython.core.interactiveshell import InteractiveShell

    chapter = json.load(open(sys.argv[1]))
    hbm_before = importlib.util.find_spec("hbm") is not None
    shell = InteractiveShell.instance(colors="NoColor")
    for source in chapter["cells"]:
        result = shell.run_cell(source, store_history=False)
        if not result.success:
            raise SystemExit(f"{chapter['notebook']}: cell failed: {source!r}: {result.error_in_exec!r}")
    after = shell.run_cell(chapter["probe"], store_history=False)
    if not after.success:
        raise SystemExit(f"{chapter['notebook']}: probe failed: {after.error_in_exec!r}")
    print("REPORT " + json.dumps({**shell.user_ns["_probe"], "hbm_before": hbm_before, "pip_calls": pip_calls}))
""")

PROBE = textwrap.dedent('''
    import hbm, hbm.data, hbm.eight_schools, hbm.sampling
    _probe = {"hbm_file": hbm.__file__, "data_dir": str(hbm.data.data_dir()),
              "sampler": hbm.sampling.NUTS_SAMPLER,
              "rows": {name: len(hbm.data.load(name)) for name in %s},
              "stan_available": hbm.eight_schools.stan_available()}
''')


def first_cells(nb, limit: int = 3) -> list[str]:
    """The set-up cell, then the chapter's first code cells up to the first that loads data
    (at most ``limit``, and none that samples)."""
    nb, _ = colab.update(nb, colab.cell_source())
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code and code[0] == colab.cell_source()
    cells = [code[0]]
    for source in code[1:1 + limit]:
        if "sample(" in source:
            break
        cells.append(source)
        if "load(" in source or "load_" in source:
            break
    return cells


def chapter_datasets(path: Path) -> list[str]:
    """The data sets a notebook reads: its chapter descriptor's, or (a coursework template) those
    it loads with ``hbm.data.load("name")``."""
    from hbm.chapters import chapters

    for c in chapters():
        if c.notebook == path.stem:
            return list(c.datasets)
    return sorted(set(re.findall(r'hbm\.data\.load\(\\?"(\w+)', path.read_text(encoding="utf8"))))


@pytest.fixture(scope="module")
def colab_env(tmp_path_factory):
    """A fresh venv that cannot import hbm, nutpie or PyStan, a fake google.colab, and a copy of
    the repository to install from."""
    tmp = tmp_path_factory.mktemp("colab")
    overlay = tmp / "site"
    overlay.mkdir()
    for entry in SITE.iterdir():
        name = entry.name.lower()
        if name.endswith(".pth") or name.startswith(NOT_ON_COLAB) or name == "__pycache__":
            continue
        (overlay / entry.name).symlink_to(entry)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "colab_stack.pth").write_text(f"{overlay}\n")
    fake = tmp / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab\'s marker module."""\n')
    source = tmp / "repository"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "_build", "build", "__pycache__", "*.egg-info", ".pytest_cache", "book", "tests"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "HBM_"))}
    env.update({
        "PYTHONPATH": str(fake), "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg", "HBM_QUIET": "1",
        colab.INSTALL_SOURCE_ENV: str(source),
        # offline: everything hbm needs is already visible; build with the visible setuptools
        "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    })
    return {"tmp": tmp, "python": python, "purelib": Path(purelib), "env": env}


def start_in_colab(colab_env, notebook: str, cells: list[str], datasets: list[str]) -> subprocess.Popen:
    """Start one notebook's cells in a new Python process of the simulated Colab (a new kernel)."""
    tmp = colab_env["tmp"]
    runner = tmp / "runner.py"
    if not runner.is_file() or runner.read_text() != RUNNER:  # never rewritten under a running process
        runner.write_text(RUNNER)
    spec = tmp / f"{notebook}.json"
    spec.write_text(json.dumps({"notebook": notebook, "cells": cells, "probe": PROBE % json.dumps(datasets)}))
    return subprocess.Popen([colab_env["python"], runner, spec], cwd=tmp, env=colab_env["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def report_of(process: subprocess.Popen) -> dict:
    """Wait for a process of :func:`start_in_colab` and return its report."""
    try:
        stdout, stderr = process.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, stdout[-3000:] + stderr[-5000:]
    line = next(x for x in stdout.splitlines() if x.startswith("REPORT "))
    return json.loads(line[len("REPORT "):])


@pytest.mark.integration
@pytest.mark.xdist_group("pipelines")   # together on the other worker: see the Makefile
def test_simulated_colab_installs_hbm_then_chapters_start(colab_env):
    python, env = colab_env["python"], colab_env["env"]
    # the simulated Colab starts without hbm (and without nutpie and PyStan), like Colab
    for module in ("hbm", "hbm_book", "nutpie", "stan"):
        found = subprocess.run([python, "-c", f"import importlib.util as u; print(u.find_spec('{module}'))"],
                               cwd=colab_env["tmp"], env=env, capture_output=True, text=True, check=True)
        assert found.stdout.strip() == "None", f"{module} is importable before the set-up cell"
    def start(p: Path) -> subprocess.Popen:
        return start_in_colab(colab_env, p.stem, first_cells(nbformat.read(p, as_version=4)), chapter_datasets(p))

    # the first notebook installs hbm; the later ones (new kernels on the same machine, each in its
    # own process) run side by side once it has finished, as a reader's tabs would
    first, *later = colab.chapter_notebooks()
    report = {first.stem: report_of(start(first))}
    started = {p.stem: start(p) for p in later}
    try:
        report.update({name: report_of(process) for name, process in started.items()})
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    runs = list(report.values())
    # the first notebook's cell installs hbm from $HBM_INSTALL_SOURCE; in the later notebooks (new
    # kernels on the same machine) the cell finds hbm installed and does nothing
    assert [r["hbm_before"] for r in runs] == [False] + [True] * (len(runs) - 1)
    assert [len(r["pip_calls"]) for r in runs] == [1] + [0] * (len(runs) - 1)
    assert runs[0]["pip_calls"][0][-1] == env[colab.INSTALL_SOURCE_ENV]
    for notebook, r in report.items():
        installed = Path(r["hbm_file"]).resolve()
        assert installed.is_relative_to(colab_env["purelib"].resolve()), (notebook, installed)
        assert not installed.is_relative_to(ROOT), "hbm came from the repository, not the install"
        data = Path(r["data_dir"]).resolve()
        assert data.is_relative_to(colab_env["purelib"].resolve()), f"data read from {data}, not the install"
        assert r["sampler"] == "pymc", "without nutpie, hbm.sampling must fall back to PyMC"
        assert all(n > 0 for n in r["rows"].values()), r["rows"]
        assert r["stan_available"] is False, "PyStan is absent: the Stan cross-check must be skipped"
    assert all(r["rows"] for r in runs), "every chapter's descriptor names its data sets"


def test_setup_cell_does_nothing_outside_colab(tmp_path):
    """In an ordinary environment (no google.colab) the cell runs no command and imports nothing
    beyond ``sys``; on Colab with hbm already installed it runs no command either."""
    script = textwrap.dedent(f'''
        import subprocess, sys
        calls = []
        subprocess.run = lambda *a, **k: calls.append(a)
        fake_colab = {{}}
        exec(compile({colab.cell_source()!r}, "setup", "exec"), fake_colab)
        names = sorted(k for k in fake_colab if k != "__builtins__")
        sys.modules["google.colab"] = type(sys)("google.colab")
        exec(compile({colab.cell_source()!r}, "setup", "exec"), {{}})
        print(len(calls), names)
    ''')
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout.split(maxsplit=1)
    assert out == ["0", "['sys']\n"]


def test_setup_cell_is_small_and_fits_the_column():
    source = colab.cell_source()
    lines = source.splitlines()
    assert len(lines) <= 20 and max(map(len, lines)) <= 100
    tree = ast.parse(source)
    # the only top-level statements: import sys, and the Colab test
    assert [type(s).__name__ for s in tree.body] == ["Import", "If"]
    assert ast.unparse(tree.body[1].test) == "'google.colab' in sys.modules"
    assert colab.install_source(*colab.repository()) in source


def _scratch_notebooks(tmp_path) -> list[Path]:
    paths = []
    for p in colab.chapter_notebooks():
        shutil.copy(p, tmp_path / p.name)
        paths.append(tmp_path / p.name)
    return paths


def test_write_is_idempotent_and_check_catches_missing_and_stale(tmp_path):
    paths = _scratch_notebooks(tmp_path)
    originals = {p: nbformat.read(p, as_version=4) for p in paths}
    assert colab.main(["--write", *map(str, paths)]) == 0
    written = {p: p.read_bytes() for p in paths}
    assert colab.main(["--check", *map(str, paths)]) == 0
    assert colab.main(["--write", *map(str, paths)]) == 0
    assert {p: p.read_bytes() for p in paths} == written, "a second --write changed a notebook"
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0].source == colab.cell_source() and "remove-cell" in code[0].metadata["tags"]
        # nothing else in the notebook changed
        rest = [c for c in nb.cells if not colab.is_setup_cell(c)]
        assert rest == [c for c in originals[p].cells if not colab.is_setup_cell(c)]
        nbformat.validate(nb)
    # stale: another repository URL in _config.yml changes the expected cell
    other = tmp_path / "_config.yml"
    other.write_text((ROOT / "_config.yml").read_text().replace(
        colab.repository()[0], "https://github.com/someone-else/fork"))
    stale = colab.run(paths, write=False, source=colab.cell_source(other))
    assert {s.state for s in stale} == {"stale"}
    # missing, and a cell moved away from the first code cell
    nb = nbformat.read(paths[0], as_version=4)
    setup = next(c for c in nb.cells if colab.is_setup_cell(c))
    nb.cells.remove(setup)
    nbformat.write(nb, paths[0])
    assert colab.main(["--check", str(paths[0])]) == 1
    nb.cells.append(setup)
    nbformat.write(nb, paths[0])
    assert colab.run([paths[0]], write=False)[0].state == "stale"
    colab.main(["--write", str(paths[0])])
    assert paths[0].read_bytes() == written[paths[0]]


def test_every_chapter_notebook_has_the_current_setup_cell():
    """The lead runs ``python -m hbm_book.colab --write`` after the chapters are final."""
    bad = [(s.path.name, s.state, s.detail) for s in colab.run(colab.chapter_notebooks(), write=False)
           if s.state != "current"]
    assert not bad, f"run `python -m hbm_book.colab --write`: {bad}"


COLAB_STACK = {"numpy", "scipy", "pandas", "matplotlib", "arviz", "pymc", "pytensor", "xarray", "astropy",
               "IPython", "graphviz"}
"""What Colab's image provides of what the chapters use (it has no nutpie, PyStan or myst-nb)."""


def _code(nb) -> str:
    return "\n".join("\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!")))
                     for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", colab.chapter_notebooks(), ids=lambda p: p.stem)
def test_chapter_runs_on_colab_stack(path):
    """A chapter imports only the standard library, hbm and what Colab's image has; it leaves
    the sampler to hbm.sampling (nutpie when installed, else PyMC); and it runs Stan only after
    asking whether PyStan is there, saying otherwise that the cross-check was skipped."""
    tree = ast.parse(_code(nbformat.read(path, as_version=4)))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    extra = {m for m in imported if m not in sys.stdlib_module_names} - COLAB_STACK - {"hbm"}
    assert not extra, f"{path.name} imports {extra}, which Colab lacks (the set-up cell installs only hbm)"
    passes_sampler = [n for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "nuts_sampler"]
    assert not passes_sampler, f"{path.name} chooses the sampler; hbm.sampling.sample chooses it"
    assert "nutpie" not in {c.value for c in ast.walk(tree) if isinstance(c, ast.Constant)}
    stan_calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                  and getattr(n.func, "attr", getattr(n.func, "id", "")) == "sample_stan"]
    guards = [n for n in ast.walk(tree) if isinstance(n, ast.If) and "stan_available" in ast.unparse(n.test)]
    for call in stan_calls:
        guard = next((g for g in guards if any(call is x for s in g.body for x in ast.walk(s))), None)
        assert guard is not None, f"{path.name}: sample_stan(...) runs without asking stan_available()"
        assert guard.orelse, f"{path.name}: when PyStan is missing, the chapter must say the check was skipped"
