"""The HTML book without its solutions, for publishing while a course runs.

``make book-without-solutions`` (``python -m hbm_book.book_without_solutions --out DIR``) copies the
book's sources (``_config.yml``, ``_toc.yml``, ``book/``) to ``DIR/source`` and, in every notebook,

- tags each ``solution`` code cell ``remove-cell``: it still runs (later given cells and glued
  numbers need its results) but neither its code nor its output is on the page;
- deletes each ``solution`` Markdown cell, the ``solution-start``/``solution-end`` marker cells and
  every ``{solution}`` directive;

then builds it with Jupyter Book into ``DIR/_build/html`` and replaces the page sources offered
for download (``_sources/**/*.ipynb``) by the student edition's notebooks (stubs, no outputs).
The exercises, their self-checks and all given text stay. Given prose must not quote numbers that
only solutions compute (``tests/test_student.py`` checks it), as those numbers are still glued.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from hbm_book import ROOT
from hbm_book import student

SOURCES = ["_config.yml", "_toc.yml", "book"]
"""What the book is built from (relative to the repository root)."""


def strip_solutions(nb):
    """A copy of a book notebook without solutions: see the module docstring."""
    out = nbformat.v4.new_notebook(metadata=dict(nb.metadata))
    for cell in nb.cells:
        names = student._markdown_names(cell)
        if cell.cell_type == "markdown" and (student._is_solution(cell) or {"solution-start", "solution-end"} & set(names)):
            continue
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "code" and student._is_solution(cell):
            cell.metadata["tags"] = sorted(set(cell.metadata.get("tags", [])) | {"remove-cell"})
            cell.metadata.pop("mystnb", None)  # no figure caption or label of a hidden figure
        elif cell.cell_type == "markdown" and "solution" in names:
            lines = cell.source.split("\n")
            for d in reversed([d for d in student._directives(cell.source) if d.name == "solution"]):
                del lines[d.start : d.end + 1]
            cell.source = "\n".join(lines)
        out.cells.append(cell)
    return out


ONE_CHAPTER_TOC = """\
format: jb-book
root: book/intro
parts:
  - caption: Worked problems
    numbered: true
    chapters:
      - file: book/{nb}
  - caption: Back matter
    chapters:
      - file: book/references
"""
"""The table of contents of a one-chapter build (``--nb``), as ``make chapter`` builds one chapter."""


def stage(out: str | Path, root: str | Path = ROOT, nb: str | None = None) -> Path:
    """Copy the book's sources into ``out/source`` with the solutions stripped; return that folder.

    With ``nb`` (``"01_eight_schools"``) the staged book holds that chapter only (and the intro and
    references), to check one chapter quickly."""
    root, source = Path(root), Path(out) / "source"
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    for name in SOURCES:
        path = root / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns(".*", "_build", "__pycache__"))
        elif path.is_file():
            shutil.copy2(path, source / name)
    for path in (source / "book").rglob("*.ipynb"):
        nbformat.write(strip_solutions(nbformat.read(path, as_version=4)), path)
    if nb:
        (source / "_toc.yml").write_text(ONE_CHAPTER_TOC.format(nb=nb))
    return source


def replace_downloads(html: str | Path, root: str | Path) -> list[Path]:
    """Replace the ``.ipynb`` page sources of the chapters in a built HTML folder by their student versions
    (made from the chapters of ``root``, the repository), and delete any other source holding a solution."""
    html, root = Path(html), Path(root)
    replaced = []
    chapters = student.toc_chapters(root)
    number_of = {e.label: e.number for path, n in chapters
                 for e in student.exercises(nbformat.read(path, as_version=4), n, path.name) if e.label}
    for path, number in chapters:
        target = html / "_sources" / path.relative_to(root)
        if target.is_file():
            nb = student.student_notebook(nbformat.read(path, as_version=4), number, name=path.name, number_of=number_of)
            nbformat.write(nb, target)
            replaced.append(target)
    # any other copy of a source notebook that still holds solution cells goes
    for path in (html / "_sources").rglob("*.ipynb") if (html / "_sources").is_dir() else []:
        if path not in replaced and any(student._is_solution(c) for c in nbformat.read(path, as_version=4).cells):
            path.unlink()
    return replaced


def build(out: str | Path, root: str | Path = ROOT, extra_args: list[str] | None = None, nb: str | None = None) -> Path:
    """Stage the book without solutions in ``out/source``, build it, fix its downloads; return the HTML folder."""
    out = Path(out).resolve()
    source = stage(out, root, nb)
    env = dict(os.environ, HBM_QUIET="1")
    env.setdefault("HBM_SUMMARY_DIR", str(out / "_build" / "summary"))
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb), "build", str(source), "--path-output", str(out), *(extra_args or [])]
    subprocess.run(command, check=True, env=env)
    html = out / "_build" / "html"
    replace_downloads(html, root)
    return html


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m hbm_book.book_without_solutions [--out _build/without_solutions]``."""
    parser = argparse.ArgumentParser(prog="python -m hbm_book.book_without_solutions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "_build" / "without_solutions"), help="output folder")
    parser.add_argument("--root", default=str(ROOT), help="repository root")
    parser.add_argument("--nb", help="build this chapter only (e.g. 01_eight_schools), to check it")
    args = parser.parse_args(argv)
    html = build(args.out, args.root, nb=args.nb)
    print(f"The book without solutions is at {html / 'index.html'}")


if __name__ == "__main__":
    main()
