"""The Colab set-up cell: the first code cell of every chapter notebook.

On Google Colab a chapter notebook is opened alone, without the repository: ``import hbm``
fails. The set-up cell fixes that and nothing else. It is tagged ``remove-cell`` (hidden in
the rendered book) and does nothing unless the notebook runs on Colab, which it recognises by
the module Colab's kernel imports before any cell runs (``"google.colab" in sys.modules``).
There, when ``hbm`` is not importable yet, it pip-installs the package (with its data sets)
from the repository named by ``repository.url`` and ``repository.branch`` in ``_config.yml``,
the one setting the launch buttons read too. ``$HBM_INSTALL_SOURCE`` overrides the pip
requirement (a fork, a tag, a local path or a wheel; the tests point it at a local copy).

Colab's image has PyMC, ArviZ, graphviz and a C++ compiler but not nutpie or PyStan, and the
cell does not install them: :mod:`hbm.sampling` falls back to PyMC's NUTS without nutpie, and
chapter 1's Stan cross-check says it is skipped when PyStan cannot be imported.

The chapter engineers own the notebooks; this module owns only their set-up cell::

    python -m hbm_book.colab --write    # insert or update the cell in every chapter notebook
    python -m hbm_book.colab --check    # exit 1 if a chapter notebook's cell is missing or stale

Both are idempotent: ``--write`` changes nothing in a notebook whose cell is current.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from hbm_book import ROOT

INSTALL_SOURCE_ENV = "HBM_INSTALL_SOURCE"
"""Environment variable that overrides the pip requirement the cell installs on Colab."""

COLAB_MODULE = "google.colab"
"""The module whose presence in ``sys.modules`` means the notebook runs on Colab."""

CELL_ID = "colab-setup"
"""The cell id (notebook format 4.5 and later)."""

METADATA_KEY = "hbm_colab_setup"
"""Cell metadata key that marks the set-up cell, so ``--write`` finds and updates it."""

TAGS = ("remove-cell",)
"""Cell tags: the cell is executed by the build but not shown in the rendered book."""

TEMPLATE = '''\
# Set-up for Google Colab; does nothing anywhere else. On Colab, it installs the workbook's
# package `hbm` with its data sets (${env} overrides where from).
import sys

if "{colab}" in sys.modules:
    import importlib
    import importlib.util
    import os
    import subprocess

    if importlib.util.find_spec("hbm") is None:
        default = "{source}"
        source = os.environ.get("{env}", default)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)
        importlib.invalidate_caches()
'''


def repository(config: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """``(url, branch)`` of the book's repository, from ``repository:`` in ``_config.yml``."""
    with open(config, encoding="utf8") as f:
        repo = (yaml.safe_load(f) or {}).get("repository") or {}
    url = str(repo.get("url") or "").rstrip("/")
    if not url.startswith("https://"):
        raise ValueError(f"{config}: repository.url must be the repository's https URL, got {url!r}")
    return url, str(repo.get("branch") or "main")


def install_source(url: str, branch: str) -> str:
    """The pip requirement that installs ``hbm`` from a git repository's branch."""
    return f"hbm @ git+{url}.git@{branch}" if not url.endswith(".git") else f"hbm @ git+{url}@{branch}"


def cell_source(config: Path = ROOT / "_config.yml") -> str:
    """The source of the set-up cell for the repository configured in ``config``."""
    source = install_source(*repository(config))
    return TEMPLATE.format(env=INSTALL_SOURCE_ENV, colab=COLAB_MODULE, source=source).rstrip("\n")


def chapter_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook a student opens: those of :func:`hbm.chapters.chapters` and of the numbered
    parts of ``_toc.yml`` (the worked problems), in the order of the table of contents, then the
    coursework templates of :func:`hbm.chapters.projects`."""
    from hbm.chapters import chapters, projects

    with open(root / "_toc.yml", encoding="utf8") as f:
        toc = yaml.safe_load(f)
    listed = [entry["file"] for part in toc.get("parts", []) if part.get("numbered")
              for entry in part.get("chapters", []) if "file" in entry]
    listed += [f"book/{c.notebook}" for c in chapters() if f"book/{c.notebook}" not in listed]
    listed += [f"book/{p.notebook}" for p in projects() if f"book/{p.notebook}" not in listed]
    paths = []
    for name in listed:
        path = root / (name if name.endswith(".ipynb") else f"{name}.ipynb")
        if not path.is_file():
            raise FileNotFoundError(f"chapter notebook {path} (listed in _toc.yml or a chapter.toml) is missing")
        paths.append(path)
    return paths


def is_setup_cell(cell) -> bool:
    """True for the set-up cell written by this module (in any version)."""
    return cell.cell_type == "code" and bool(cell.get("metadata", {}).get(METADATA_KEY))


@dataclass
class Status:
    """What ``--write`` would do to one notebook: ``"current"``, ``"missing"`` or ``"stale"``."""

    path: Path
    state: str
    detail: str = ""


def _expected_cell(nb, source: str):
    cell = nbformat.v4.new_code_cell(source=source, metadata={"tags": list(TAGS), METADATA_KEY: True})
    if (nb.nbformat, nb.nbformat_minor) >= (4, 5):
        cell["id"] = CELL_ID
    else:
        cell.pop("id", None)
    return cell


def update(nb, source: str) -> tuple[object, Status]:
    """Return ``(notebook with the current set-up cell as its first code cell, status before)``."""
    setup = [i for i, c in enumerate(nb.cells) if is_setup_cell(c)]
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if not setup:
        state, detail = "missing", "no set-up cell"
    elif len(setup) > 1:
        state, detail = "stale", f"{len(setup)} set-up cells"
    elif code[0] != setup[0]:
        state, detail = "stale", "the set-up cell is not the first code cell"
    else:
        cell = nb.cells[setup[0]]
        tags = cell.metadata.get("tags", [])
        if cell.source != source:
            state, detail = "stale", "its source differs from hbm_book.colab.cell_source()"
        elif any(t not in tags for t in TAGS):
            state, detail = "stale", f"its tags {tags} lack {list(TAGS)}"
        elif cell.get("outputs") or cell.get("execution_count") is not None:
            state, detail = "stale", "it holds outputs"
        else:
            return nb, Status(Path(), "current")
    others = [c for c in nb.cells if not is_setup_cell(c)]
    first_code = next((i for i, c in enumerate(others) if c.cell_type == "code"), len(others))
    if any(c.get("id") == CELL_ID for c in others):
        raise ValueError(f"another cell already has the id {CELL_ID!r}")
    nb.cells = others[:first_code] + [_expected_cell(nb, source)] + others[first_code:]
    return nb, Status(Path(), state, detail)


def run(paths: list[Path], *, write: bool, source: str | None = None) -> list[Status]:
    """Check (and with ``write``, fix) the set-up cell of each notebook; return their statuses."""
    source = cell_source() if source is None else source
    statuses = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nb, status = update(nb, source)
        status.path = path
        if write and status.state != "current":
            nbformat.validate(nb)
            nbformat.write(nb, path)
        statuses.append(status)
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hbm_book.colab", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="insert or update the cell in every chapter notebook")
    mode.add_argument("--check", action="store_true", help="exit 1 if a notebook's cell is missing or stale")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter notebook")
    args = parser.parse_args(argv)
    statuses = run(args.notebooks or chapter_notebooks(), write=args.write)
    bad = [s for s in statuses if s.state != "current"]
    for s in statuses:
        verb = {"current": "current", "missing": "inserted" if args.write else "MISSING",
                "stale": "updated" if args.write else "STALE"}[s.state]
        print(f"{s.path.relative_to(ROOT) if s.path.is_relative_to(ROOT) else s.path}: {verb}"
              + (f" ({s.detail})" if s.detail else ""))
    if args.check and bad:
        print(f"{len(bad)} notebook(s) need `python -m hbm_book.colab --write`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
