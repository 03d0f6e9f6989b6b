"""`pip install .` (not editable) gives a working hbm whose data travel with it (issue 16, item 1).

The project is copied out of the repository, installed with a plain `pip install` into a fresh
virtual environment, the copy is deleted, and every data set is loaded from a folder outside
the repository. To stay fast and offline the fresh environment borrows this environment's
site-packages (numpy, PyMC, setuptools, pip) through a .pth file, and the install uses
--no-deps --no-build-isolation; the editable hbm of this environment stays invisible (a .pth
file only adds a folder to sys.path, it does not run that folder's own .pth files).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from hbm import data

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", "_build", "build", "__pycache__", "*.egg-info", ".pytest_cache",
                                ".ipynb_checkpoints", "book", "benchmarks", "tests")

PROBE = textwrap.dedent("""
    import json, os, sys
    import hbm, hbm.data, hbm.chapters, hbm_book
    from pathlib import Path
    out = {"hbm": hbm.__file__, "hbm_book": hbm_book.__file__, "data_dir": str(hbm.data.data_dir()),
           "rows": {name: len(hbm.data.load(name)) for name in hbm.data.DATASETS},
           "truths": sorted(name for name, d in hbm.data.DATASETS.items() if d.truth and hbm.data.load_truth(name)),
           "chapters": [c.slug for c in hbm.chapters.chapters()]}
    files = {}
    for package in (hbm, hbm_book):
        root = Path(package.__file__).parent
        files[package.__name__] = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                                         if p.is_file() and "__pycache__" not in p.parts)
    out["files"] = files
    os.environ["HBM_DATA_DIR"] = sys.argv[1]
    try:
        hbm.data.load("eight_schools")
    except ValueError as exc:
        out["elsewhere"] = str(exc)
    print(json.dumps(out))
""")


def _package_files(package: str) -> list[str]:
    root = ROOT / "src" / package
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Install a copy of the project with `pip install .` into a fresh venv; return (python, workdir)."""
    base = tmp_path_factory.mktemp("install")
    project, venv, outside = base / "project", base / "venv", base / "elsewhere"
    shutil.copytree(ROOT, project, symlinks=True, ignore=IGNORE)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "borrowed_site_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HBM_DATA_DIR", "PIP_REQUIRE_VIRTUALENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--ignore-installed", "--no-index", "."], cwd=project, env=env, check=True)
    shutil.rmtree(project)  # nothing of the repository is left to fall back on
    outside.mkdir()
    return python, outside, env


@pytest.fixture(scope="module")
def probe(installed, tmp_path_factory):
    """What the installed hbm sees, run from a folder outside the repository."""
    python, outside, env = installed
    damaged = tmp_path_factory.mktemp("damaged")
    (damaged / "eight_schools.csv").write_text((data.DATA_DIR / "eight_schools.csv").read_text().replace("28", "29"))
    result = subprocess.run([str(python), "-c", PROBE, str(damaged)], cwd=outside, env=env,
                            check=True, capture_output=True, text=True)
    return python.parent.parent, json.loads(result.stdout.strip().splitlines()[-1])


def test_plain_install_loads_every_data_set_outside_the_repository(probe):
    venv, out = probe
    for key in ("hbm", "hbm_book", "data_dir"):
        assert Path(out[key]).is_relative_to(venv), f"{key} is not the installed copy: {out[key]}"
        assert not Path(out[key]).resolve().is_relative_to(ROOT), f"{key} points into the repository: {out[key]}"
    assert out["rows"] == {name: entry.rows for name, entry in data.DATASETS.items()}
    assert out["truths"] == ["dyson_spheres", "five_districts"]
    from hbm import chapters

    assert out["chapters"] == [c.slug for c in chapters.chapters()]


def test_hbm_data_dir_points_elsewhere_and_is_checksummed(probe):
    _, out = probe
    assert "damaged" in out["elsewhere"] and "eight_schools.csv: checksum mismatch" in out["elsewhere"]


def test_every_package_file_is_installed(probe):
    """Chapter descriptors, Stan programs and data files are package data: the wheel must hold
    every file of src/hbm and src/hbm_book (a file missing here breaks a non-editable install)."""
    _, out = probe
    for package in ("hbm", "hbm_book"):
        missing = sorted(set(_package_files(package)) - set(out["files"][package]))
        assert not missing, f"not installed with {package}: {missing} (add them to [tool.setuptools.package-data])"
    shipped = sorted(p.name for p in data.DATA_DIR.iterdir() if p.is_file())
    assert sorted(f.removeprefix("datasets/") for f in out["files"]["hbm"] if f.startswith("datasets/")) == shipped


def test_the_data_folder_is_one_copy():
    """src/hbm/datasets is a link to data/, not a second copy that could drift."""
    link = ROOT / "src" / "hbm" / "datasets"
    assert link.is_symlink() and os.readlink(link) == "../../data"
    assert data.DATA_DIR == (ROOT / "data").resolve()


def test_declared_dependencies_are_installed():
    """Every requirement of pyproject.toml (dependencies, [book], [test]) is met here."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [r for group in ("book", "test") for r in project["optional-dependencies"][group]]
    unmet = []
    for requirement in map(Requirement, wanted):
        if requirement.marker and not requirement.marker.evaluate():
            continue
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{requirement} (not installed)")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            unmet.append(f"{requirement} (installed {version})")
    assert not unmet, f"run `make install`: {unmet}"
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines == ["-c requirements-lock.txt", "-e .[book,test]"], \
        "requirements.txt installs the project with its extras at the lock's versions, nothing else"
