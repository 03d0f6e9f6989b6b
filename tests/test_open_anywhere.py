"""Issue 16: Binder and conda environments, the workflows, the licences and the citation, the
execution-statistics page, the Makefile's system checks. Nothing here reaches the network except
the first run of the citation test, which installs cffconvert apart (see ``cffconvert``)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from hbm_book import ROOT, colab

BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())

IMPORT_TO_CONDA = {
    "arviz": "arviz", "astropy": "astropy", "graphviz": "python-graphviz", "IPython": "ipython",
    "matplotlib": "matplotlib-base", "nbformat": "nbformat", "numpy": "numpy", "pandas": "pandas",
    "pybtex": "pybtex", "pymc": "pymc", "pytensor": "pytensor", "scipy": "scipy", "xarray": "xarray",
    "yaml": "pyyaml", "nutpie": "nutpie", "numba": "numba", "stan": "pystan",
}
"""Import name -> conda-forge package (PyPI's name where the two agree)."""

LOCAL = {"hbm", "hbm_book"}
"""Packages of this repository, installed by ``pip install .`` (binder/postBuild)."""


# --- helpers ------------------------------------------------------------------------------------

def conda_env(path: Path) -> tuple[dict[str, SpecifierSet], list[str], dict]:
    """``(conda package -> version specifier, pip lines, whole file)`` of an environment.yml."""
    env = yaml.safe_load(path.read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
            continue
        name, spec = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", dep).groups()
        conda[name] = SpecifierSet(spec.replace("=3.11", "==3.11.*") if name == "python" else spec)
    return conda, pip, env


def _optional(handler: ast.ExceptHandler) -> bool:
    names = {n.id for n in ast.walk(handler.type) if isinstance(n, ast.Name)} if handler.type else set()
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def imports_of(source: str) -> set[str]:
    """Top-level modules imported by Python source (IPython magics and shell lines dropped).
    Optional imports, in a ``try`` whose ``except`` catches ImportError, are left out."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    found = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Try) and any(_optional(h) for h in node.handlers):
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(code))
    return found


def notebook_imports() -> dict[str, set[str]]:
    """Every notebook of book/ -> the modules its code cells import (and, for hbm_book modules
    it imports, what those modules import)."""
    result = {}
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        found = imports_of(code)
        tree = ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hbm_book":
                modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                for name in modules:
                    file = ROOT / "src" / (name.replace(".", "/") + ".py")
                    if file.is_file():
                        found |= imports_of(file.read_text())
        result[path.name] = found
    return result


def package_imports(package: str) -> set[str]:
    """Every module imported anywhere in ``src/<package>``."""
    found = set()
    for file in (ROOT / "src" / package).rglob("*.py"):
        found |= imports_of(file.read_text())
    return found


def third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m not in LOCAL and m != "__future__"}


def pyproject_requirements(*extras: str) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    return reqs


CONDA_NAME = {"matplotlib": "matplotlib-base", "graphviz": "python-graphviz", "ipython": "ipython"}
"""PyPI name -> conda-forge name where they differ."""


# --- Binder -------------------------------------------------------------------------------------

def test_binder_environment_is_conda_forge_python_311_with_the_stack():
    conda, pip, env = conda_env(ROOT / "binder" / "environment.yml")
    assert env["channels"][0] == "conda-forge" and set(env["channels"]) <= {"conda-forge", "nodefaults"}
    assert "3.11.7" in conda["python"] and "3.12.0" not in conda["python"]
    for needed in ("pymc", "nutpie", "graphviz", "python-graphviz", "gxx", "setuptools", "pip"):
        assert needed in conda, f"binder/environment.yml lacks {needed}"


def test_binder_environment_provides_every_import_of_the_notebooks_and_of_hbm():
    conda, pip, _ = conda_env(ROOT / "binder" / "environment.yml")
    provided = set(conda) | {Requirement(line).name for line in pip}
    needed = {}
    for notebook, modules in notebook_imports().items():
        for m in third_party(modules):
            needed.setdefault(m, []).append(notebook)
    for m in third_party(package_imports("hbm")):
        needed.setdefault(m, []).append("src/hbm")
    unknown = sorted(set(needed) - set(IMPORT_TO_CONDA))
    assert not unknown, f"imports with no known conda package (add them to IMPORT_TO_CONDA and binder/): {unknown}"
    missing = {m: where for m, where in needed.items() if IMPORT_TO_CONDA[m] not in provided}
    assert not missing, f"binder/environment.yml lacks the packages of these imports: {missing}"
    # the notebooks really are scanned: the chapters import the modelling stack
    assert {"pymc", "arviz", "hbm"} <= set.union(*notebook_imports().values())


def test_binder_environment_covers_what_import_hbm_needs_with_the_same_ranges():
    conda, _, _ = conda_env(ROOT / "binder" / "environment.yml")
    for req in pyproject_requirements():
        name = CONDA_NAME.get(req.name, req.name)
        assert name in conda, f"pyproject dependency {req} is not in binder/environment.yml"
        if req.specifier:
            assert conda[name] == req.specifier, f"{name}: binder has {conda[name]}, pyproject {req.specifier}"


def test_binder_postbuild_installs_the_project_non_editable_without_touching_conda():
    post = ROOT / "binder" / "postBuild"
    assert post.stat().st_mode & stat.S_IXUSR, "binder/postBuild must be executable"
    text = post.read_text()
    assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
    installs = [line for line in text.splitlines() if "pip install" in line and not line.startswith("#")]
    assert len(installs) == 1 and installs[0].split()[-1] == "." and " -e " not in installs[0]
    assert "--no-deps" in installs[0], "pip must not replace the conda packages"
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"].get("include", ["hbm_book"])
    assert any(p.startswith("hbm_book") for p in include), "pip install . must install hbm_book too"
    subprocess.run(["bash", "-n", str(post)], check=True)


def test_launch_buttons_and_binder_read_the_repository_setting():
    buttons = CONFIG["launch_buttons"]
    assert buttons["binderhub_url"] == "https://mybinder.org"
    assert buttons["colab_url"] == "https://colab.research.google.com"
    url, branch = colab.repository()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url) and branch
    assert CONFIG["repository"]["path_to_book"] == ""
    # the README documents the one setting
    readme = (ROOT / "README.md").read_text()
    assert "repository.url" in readme and url in readme


# --- conda --------------------------------------------------------------------------------------

def test_conda_environment_builds_and_tests_the_book():
    conda, pip, env = conda_env(ROOT / "environment.yml")
    assert env["channels"][0] == "conda-forge" and set(env["channels"]) <= {"conda-forge", "nodefaults"}
    assert "3.11.7" in conda["python"] and "3.12.0" not in conda["python"]
    assert "-e .[book,test]" in pip, "environment.yml must install this project with its extras"
    for req in pyproject_requirements("book", "test"):
        name = CONDA_NAME.get(req.name, req.name)
        if name in conda and req.specifier:
            assert conda[name] == req.specifier, f"{name}: environment.yml {conda[name]}, pyproject {req.specifier}"
    # the compiled stack and the system programs come from conda-forge, not from pip
    for needed in ("pymc", "pytensor", "nutpie", "graphviz", "python-graphviz", "jupyter-book"):
        assert needed in conda
    provided = set(conda) | {r.name for r in pyproject_requirements("book", "test")}
    for notebook, modules in notebook_imports().items():
        for m in third_party(modules):
            assert IMPORT_TO_CONDA.get(m) in provided, f"{notebook} imports {m}, not in environment.yml"


# --- README -------------------------------------------------------------------------------------

def test_readme_gives_one_line_for_each_way_to_run_it():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Open it anywhere", 1)[1].split("\n## ", 1)[0]
    for way in ("Colab", "Binder", "conda", "macOS", "pip"):
        lines = [line for line in section.splitlines() if line.startswith(f"- **{way}**")]
        assert len(lines) == 1, f"README: one line for {way}"
    assert "conda env create -f environment.yml" in section and "brew install graphviz" in section
    assert "mybinder.org/v2/gh/" in section and "colab.research.google.com/github/" in section
    url = colab.repository()[0]
    assert url.removeprefix("https://github.com/") in section


# --- workflows ----------------------------------------------------------------------------------

def test_workflows_exist_for_tags_and_pull_requests():
    names = {p.name for p in WORKFLOWS}
    assert {"publish.yml", "pull-request.yml"} <= names
    publish = yaml.safe_load((ROOT / ".github/workflows/publish.yml").read_text())
    on = publish[True]  # YAML 1.1 reads the key `on` as True
    assert list(on) == ["push"] and on["push"]["tags"]
    steps = [s for job in publish["jobs"].values() for s in job.get("steps", [])]
    runs = " ".join(s.get("run", "") for s in steps)
    uses = " ".join(s.get("uses", "") for s in steps)
    assert "make test" in runs and "make student" in runs and "make sysdeps" in runs
    assert "actions/deploy-pages@" in uses and "actions/upload-pages-artifact@" in uses
    assert "gh release upload" in runs
    pr = yaml.safe_load((ROOT / ".github/workflows/pull-request.yml").read_text())
    assert "pull_request" in pr[True]
    steps = [s for job in pr["jobs"].values() for s in job.get("steps", [])]
    cached = " ".join(s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert "_build/.jupyter_cache" in cached
    # the compile caches, where PyTensor (C and numba) and httpstan keep them by default
    assert "~/.pytensor" in cached and "~/.cache/httpstan" in cached
    assert CONFIG["execute"]["execute_notebooks"] == "cache"
    assert "make book" in " ".join(s.get("run", "") for s in steps)


def test_workflow_actions_are_pinned_by_commit():
    for path in WORKFLOWS:
        for ref in re.findall(r"uses:\s*(\S+)", path.read_text()):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref} not pinned by SHA"


def test_workflows_match_the_github_workflow_schema(tmp_path):
    result = subprocess.run([BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows",
                             *WORKFLOWS], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # the checker does fail on a broken workflow
    broken = tmp_path / "broken.yml"
    broken.write_text("name: broken\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    step: []\n")
    assert subprocess.run([BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows",
                           broken], capture_output=True).returncode != 0


def test_zizmor_finds_nothing_of_high_severity(tmp_path):
    result = subprocess.run([BIN / "zizmor", "--offline", "--format", "json", "--no-progress",
                             ROOT / ".github" / "workflows"], capture_output=True, text=True)
    findings = json.loads(result.stdout)
    high = [(f["ident"], f["locations"][0]["symbolic"]["key"]) for f in findings
            if f["determinations"]["severity"] == "High"]
    assert not high, high
    # and it does report a high-severity finding (template injection) when there is one
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yml").write_text(
        "name: bad\non: pull_request_target\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n")
    bad_findings = json.loads(subprocess.run([BIN / "zizmor", "--offline", "--format", "json", "--no-progress",
                                              bad], capture_output=True, text=True).stdout)
    assert any(f["determinations"]["severity"] == "High" for f in bad_findings)


# --- licences and citation ----------------------------------------------------------------------

def test_licences_code_mit_text_and_figures_cc_by_data_their_own():
    mit = (ROOT / "LICENSE").read_text()
    assert mit.startswith("MIT License") and "Permission is hereby granted, free of charge" in mit
    cc = (ROOT / "LICENSES" / "CC-BY-4.0.txt").read_text()
    assert cc.startswith("Attribution 4.0 International")
    for heading in ("Section 1 -- Definitions.", "Section 3 -- License Conditions.",
                    "Section 8 -- Interpretation.", "Creative Commons may be contacted at creativecommons.org."):
        assert heading in cc
    footer = CONFIG["html"]["extra_footer"]
    assert "https://creativecommons.org/licenses/by/4.0/" in footer and "MIT" in footer
    readme = (ROOT / "README.md").read_text()
    assert "CC BY 4.0" in readme and "MIT" in readme and "LICENSES/CC-BY-4.0.txt" in readme
    datasheet = (ROOT / "data" / "README.md").read_text()
    assert datasheet.count("**Licence**") >= 5, "the data licences stay in data/README.md"


CFFCONVERT = "cffconvert==2.0.0"


@pytest.fixture(scope="module")
def cffconvert():
    """cffconvert 2.0.0 pins jsonschema < 4, which the book's tools cannot use, so it is installed
    with uv (or pip) into a folder of its own (once; later runs reuse it) and run with that folder first
    on the module path."""
    target = Path(sys.prefix) / "tools" / CFFCONVERT.replace("==", "-")
    if not (target / "cffconvert").is_dir():
        uv = Path(sys.prefix) / "tools" / "uv" / "bin" / "uv"   # the Makefile's installer: 1-2 s, pip 11 s
        installer = [str(uv), "pip", "install", "--python", sys.executable] if uv.is_file() else [
            sys.executable, "-m", "pip", "install"]
        subprocess.run([*installer, "--quiet", "--target", str(target), CFFCONVERT], check=True, capture_output=True)

    def run(path: Path) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(target)}
        return subprocess.run([sys.executable, "-c", "import sys; from cffconvert.cli.cli import cli; sys.exit(cli())",
                               "--validate", "-i", str(path)], capture_output=True, text=True, env=env)

    return run


def test_citation_cff_validates(cffconvert, tmp_path):
    result = cffconvert(ROOT / "CITATION.cff")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout
    broken = tmp_path / "CITATION.cff"
    broken.write_text((ROOT / "CITATION.cff").read_text().replace("cff-version: 1.2.0",
                                                                  "cff-version: 1.2.0\ndate-released: soon"))
    assert cffconvert(broken).returncode != 0, "cffconvert accepted an invalid date"


def test_citation_agrees_with_the_project():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["version"] == PYPROJECT["project"]["version"]
    assert cff["repository-code"] == colab.repository()[0]
    assert cff["title"] == CONFIG["title"]
    assert set(cff["license"]) == {"MIT", "CC-BY-4.0"}


def test_intro_says_how_to_cite():
    intro = (ROOT / "book" / "intro.md").read_text()
    section = intro.split("## How to cite", 1)[1].split("\n## ", 1)[0]
    assert "CITATION.cff" in section and "CC BY 4.0" in section and "MIT" in section
    flat = " ".join(section.replace(">", " ").split())
    assert CONFIG["title"] in flat and f"version {PYPROJECT['project']['version']}" in flat
    assert colab.repository()[0] in section


# --- execution statistics -----------------------------------------------------------------------

def test_execution_statistics_page_is_in_the_back_matter_and_lists_the_build_versions():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    back = next(p for p in toc["parts"] if p.get("caption") == "Back matter")
    assert {"file": "book/execution_statistics"} in back["chapters"]
    nb = nbformat.read(ROOT / "book" / "execution_statistics.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "```{nb-exec-table}\n```" in markdown
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 1 and "remove-input" in code[0].metadata.get("tags", [])
    namespace = {}
    exec(compile(code[0].source, "execution_statistics", "exec"), namespace)
    versions = dict(zip(namespace["versions"]["package"], namespace["versions"]["version"]))
    assert versions["pymc"] == metadata.version("pymc")
    assert versions["jupyter-book"] == metadata.version("jupyter-book")
    assert versions["Python"] == ".".join(map(str, sys.version_info[:3]))


# --- Makefile -----------------------------------------------------------------------------------

def _tools_dir(tmp_path: Path, tools: list[str]) -> Path:
    """A new folder with links to some programs only, to put alone on PATH."""
    bin_dir = tmp_path / ("bin-" + "-".join(tools))
    bin_dir.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return bin_dir


def _make(target: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("make"), "--no-print-directory", "-s", target], cwd=ROOT,
                          env={**os.environ, "PATH": str(path)}, capture_output=True, text=True)


def test_make_checks_system_programs_without_root_and_says_what_to_run(tmp_path):
    # without dot: make stops and gives the commands (apt-get via make sysdeps, Homebrew, conda)
    result = _make("need-sysdeps", _tools_dir(tmp_path, ["g++", "grep", "ldconfig"]))
    assert result.returncode != 0
    assert "dot (Graphviz)" in result.stdout and "g++" not in result.stdout.split("install it")[0]
    assert "sudo make sysdeps" in result.stdout and "brew install graphviz" in result.stdout
    # with dot and a compiler present, nothing else is needed and nothing is installed
    result = _make("need-sysdeps", _tools_dir(tmp_path, ["dot", "grep", "ldconfig"]))
    assert result.returncode != 0 and "g++ (a C++ compiler)" in result.stdout
    ok = _make("need-sysdeps", _tools_dir(tmp_path, ["dot", "g++", "grep", "ldconfig"]))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "apt-get" not in ok.stdout


def test_make_sysdeps_is_optional_and_needs_root(tmp_path):
    bin_dir = _tools_dir(tmp_path, ["grep"])
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "dpkg").write_text("#!/bin/sh\nexit 1\n")  # the packages are not installed
    for name in ("id", "dpkg"):
        (bin_dir / name).chmod(0o755)
    result = _make("sysdeps", bin_dir)
    assert result.returncode != 0 and "run it as root (sudo make sysdeps)" in result.stdout
    # `make install` (and so book, test, chapter) checks the programs; it never runs sysdeps
    database = subprocess.run([shutil.which("make"), "-pn", "install"], cwd=ROOT, capture_output=True,
                              text=True).stdout
    prerequisites = re.search(r"^install: (.*)$", database, re.M).group(1).split()
    assert "need-sysdeps" in prerequisites and "sysdeps" not in prerequisites
    assert "make sysdeps" in (ROOT / ".ci" / "run").read_text()
