"""The student edition: the chapter notebooks with their worked solutions removed.

``make student`` (``python -m hbm_book.student``) writes a self-contained folder,
``_build/student/`` by default, with

- every chapter notebook (each chapter of :mod:`hbm.chapters`, numbered by its place in
  the numbered parts of ``_toc.yml``), where each cell tagged
  ``solution`` becomes a stub (code: ``# YOUR CODE HERE`` and
  ``raise NotImplementedError``; markdown: a prompt), adjacent solution cells of
  one kind are merged into one stub, every output is stripped, and the
  sphinx-exercise directives become plain Markdown that Jupyter shows
  ("**Exercise 1.2 — Pooled estimate**" followed by the problem text);
- a copy of the whole ``hbm`` package (with the chapters' self-checks) and a
  minimal ``pyproject.toml``, so ``pip install -r requirements.txt`` installs it
  in editable mode next to ``data/``, which its loaders read;
- the ``data/`` folder, a ``requirements.txt`` made of the project's dependencies
  (``[project] dependencies`` of ``pyproject.toml``; the book-building and test
  tools are optional groups there) plus JupyterLab, and a ``README.md`` with the
  set-up steps.

Exercises are numbered as the book numbers them: chapter number (position in
the numbered parts of ``_toc.yml``) and position of the exercise in the chapter.
A chapter that breaks the coursework pattern in a way that could leak a
solution (an untagged cell inside a solution block, text next to a
``solution-start`` marker, a block left open) raises :class:`ValueError` naming
the notebook and cell; an exercise without a self-check call is reported.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from hbm_book import ROOT

SOLUTION_TAG = "solution"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError"
MARKDOWN_STUB = "_Write your answer here._"
CHECK_CALL = re.compile(r"\bchecks\.(check_\w+)\s*\(")
"""A self-check call in a notebook: ``es.checks.check_pooled_estimate(...)`` (any alias of the chapter)."""

STUDENT_EXTRA = ["jupyterlab>=4,<5", "ipykernel", "graphviz"]
"""What a student needs on top of the project's dependencies: a notebook front end, its kernel and
``graphviz`` for the model graphs the notebooks draw (``pm.model_to_graphviz``); ``hbm`` itself does not
import them. (``hbm.glue`` needs no myst-nb outside the book build: there it only returns the value.)"""

_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*?)\s*$")
_OPTION = re.compile(r"^\s*:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
_ROLE_REF = re.compile(r"\{(?:ref|numref|prf:ref)\}`(?:(?P<text>[^`<]*?)\s*<(?P<target>[^`>]+)>|(?P<label>[^`]+))`")
EXERCISE_NAMES = {"exercise", "exercise-start"}
REMOVED_NAMES = {"solution-start", "solution-end", "exercise-end"}


@dataclass
class Exercise:
    """One exercise of a chapter, as the book numbers it."""

    notebook: str
    number: str
    label: str
    title: str
    checks: list[str] = field(default_factory=list)
    code_answers: int = 0
    """Code stubs the student fills in (runs of adjacent solution code cells)."""
    written_answers: int = 0
    """Written answers (runs of adjacent solution Markdown cells, and ``{solution}`` directives)."""

    @property
    def heading(self) -> str:
        """The plain-Markdown heading used in the student edition."""
        number = f" {self.number}" if self.number else ""
        title = f" — {self.title}" if self.title else ""
        return f"**Exercise{number}{title}**"


@dataclass
class _Directive:
    name: str
    arg: str
    options: dict[str, str]
    body: str
    start: int  # first line (index) of the block in the cell
    end: int  # last line (index), inclusive


def _directives(text: str) -> list[_Directive]:
    """Top-level MyST directive blocks (backtick or colon fences) of a Markdown text."""
    lines = text.split("\n")
    found, i = [], 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m["fence"]
        close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if j == len(lines) and m["name"] not in REMOVED_NAMES:
            raise ValueError(f"directive {{{m['name']}}} opened on line {i + 1} is never closed")
        inner = lines[i + 1 : j]
        options, k = {}, 0
        if inner and inner[0].strip() == "---":  # YAML option block
            end = next((n for n in range(1, len(inner)) if inner[n].strip() == "---"), None)
            if end is None:
                raise ValueError(f"directive {{{m['name']}}} on line {i + 1} has an unclosed '---' option block")
            options = {str(key): str(v) for key, v in (yaml.safe_load("\n".join(inner[1:end])) or {}).items()}
            k = end + 1
        else:
            while k < len(inner) and (om := _OPTION.match(inner[k])):
                options[om["key"]] = om["value"]
                k += 1
        body = "\n".join(inner[k:]).strip("\n")
        found.append(_Directive(m["name"], m["arg"], options, body, i, min(j, len(lines) - 1)))
        i = j + 1
    return found


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _is_solution(cell) -> bool:
    return SOLUTION_TAG in _tags(cell)


def _markdown_names(cell) -> list[str]:
    return [d.name for d in _directives(cell.source)] if cell.cell_type == "markdown" else []


def toc_chapters(root: str | Path = ROOT) -> list[tuple[Path, int]]:
    """The chapter notebooks: the ``.ipynb`` files in the numbered parts of ``_toc.yml``.

    Back matter (unnumbered parts: the references, appendices such as the
    sampler benchmarks, the page for instructors) is not coursework and is
    left out of the student edition.

    Returns
    -------
    list of (pathlib.Path, int)
        Each chapter notebook, in order, with its chapter number as the book
        numbers it (position in the numbered parts).
    """
    root = Path(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    out, number = [], 0
    for part in toc.get("parts", []):
        if not part.get("numbered"):
            continue
        for entry in part.get("chapters", []):
            if "file" not in entry:
                continue
            number += 1
            path = root / entry["file"]
            if not path.suffix:  # Jupyter Book finds the file whatever its suffix
                path = path.with_suffix(".ipynb")
            if path.suffix == ".ipynb" and path.is_file():
                out.append((path, number))
    return out


def book_chapters(root: str | Path = ROOT) -> list[tuple[Path, int]]:
    """The chapters to export: every chapter of :func:`hbm.chapters.chapters` with its notebook
    and its number from ``_toc.yml``.

    Raises
    ------
    ValueError
        If a chapter's ``chapter.toml`` names a notebook that is not in the numbered parts of
        ``_toc.yml``, its ``number`` is not the notebook's place there, or a numbered notebook of
        ``_toc.yml`` has no ``chapter.toml``.
    """
    from hbm.chapters import chapters

    toc = {path.stem: (path, number) for path, number in toc_chapters(root)}
    described = {c.notebook: c for c in chapters()}
    problems = [f"{c.folder / 'chapter.toml'}: notebook {nb!r} is not a numbered chapter of _toc.yml"
                for nb, c in described.items() if nb not in toc]
    problems += [f"{c.folder / 'chapter.toml'}: number = {c.number}, but _toc.yml makes {nb} chapter {toc[nb][1]}"
                 for nb, c in described.items() if nb in toc and toc[nb][1] != c.number]
    problems += [f"{nb} is a numbered chapter of _toc.yml without a chapter.toml (src/hbm/<slug>/chapter.toml)"
                 for nb in toc if nb not in described]
    if problems:
        raise ValueError("the chapters of hbm.chapters and _toc.yml disagree:\n" + "\n".join(problems))
    return [toc[nb] for nb in sorted(described, key=lambda nb: described[nb].number)]


def exercises(nb, chapter: int | None, name: str = "notebook") -> list[Exercise]:
    """The exercises of one notebook, numbered as the book numbers them, with their self-check calls.

    The check calls of an exercise are the ``<chapter>.checks.check_*`` calls in the code
    cells after its last solution block and before the next exercise.
    """
    found: list[Exercise] = []
    current = None
    in_solution = False
    previous = None  # kind of the previous cell if it was a solution cell
    for cell in nb.cells:
        solution = _is_solution(cell)
        if solution and current is not None and previous != cell.cell_type:
            if cell.cell_type == "code":
                current.code_answers += 1
            else:
                current.written_answers += 1
        previous = cell.cell_type if solution else None
        for d in _directives(cell.source) if cell.cell_type == "markdown" and not solution else []:
            if d.name in EXERCISE_NAMES:
                n = sum(1 for e in found if e.number) + 1
                numbered = "nonumber" not in d.options
                number = (f"{chapter}.{n}" if chapter is not None else str(n)) if numbered else ""
                current = Exercise(name, number, d.options.get("label", ""), d.arg)
                found.append(current)
            elif d.name in {"solution-start", "solution"}:
                in_solution = d.name == "solution-start"
                if current is not None:
                    current.checks = []  # checks come after the (last) solution
                    current.written_answers += d.name == "solution"
            elif d.name == "solution-end":
                in_solution = False
        if cell.cell_type == "code" and current is not None and not in_solution and not solution:
            current.checks += CHECK_CALL.findall(cell.source)
    return found


ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention", "danger", "error",
               "seealso", "admonition"}
_ROLE_GLUE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`")
_ROLE_CITE = re.compile(r"\{cite(?::(?P<kind>[a-z]+))?\}`(?P<keys>[^`]+)`")
_ROLE_OTHER = re.compile(r"\{[\w:-]+\}`(?:(?P<text>[^`<]*?)\s*<[^`>]+>|(?P<plain>[^`]+))`")


def _convert_markdown(text: str, pending: list[Exercise], number_of: dict[str, str],
                      citations: dict[str, tuple[str, str]] | None = None) -> str:
    """Turn the MyST of a non-solution Markdown cell into Markdown that Jupyter shows.

    Exercise directives become a bold heading and their text; ``{solution}``
    directives become the answer prompt; solution markers disappear;
    admonitions become block quotes and ``{math}`` blocks display maths.
    References to exercises read "Exercise 1.2", citations "Rubin (1981)" or
    "(Rubin 1981)", and glued numbers show their key (the student computes them).
    ``pending`` holds the notebook's exercises not yet converted, in order; the
    ones met in this cell are removed from it.
    """
    lines = text.split("\n")
    replacements = []
    for d in _directives(text):
        if d.name in EXERCISE_NAMES:
            heading = pending.pop(0).heading
            new = [heading, ""] + d.body.split("\n") if d.body else [heading]
        elif d.name == "solution":
            new = [MARKDOWN_STUB]
        elif d.name in REMOVED_NAMES:
            new = []
        elif d.name in ADMONITIONS:
            title = d.arg if d.name == "admonition" else (d.arg or d.name.capitalize())
            new = [f"> **{title}**" if title else ">", ">"] + [f"> {line}".rstrip() for line in d.body.split("\n")]
        elif d.name == "math":
            new = ["$$", d.body, "$$"]
        else:
            continue
        replacements.append((d, new))
    for d, new in reversed(replacements):
        lines[d.start : d.end + 1] = new

    def ref(m: re.Match) -> str:
        if m["text"]:
            return m["text"]
        target = m["target"] or m["label"]
        return f"Exercise {number_of[target]}" if number_of.get(target) else target

    def cite(m: re.Match) -> str:
        keys = [k.strip() for k in m["keys"].split(",")]
        known = citations or {}
        if m["kind"] == "t":
            return ", ".join(f"{known[k][0]} ({known[k][1]})" if k in known else k for k in keys)
        return "(" + "; ".join(f"{known[k][0]} {known[k][1]}" if k in known else k for k in keys) + ")"

    text = _ROLE_REF.sub(ref, "\n".join(lines))
    text = _ROLE_CITE.sub(cite, text)
    text = _ROLE_GLUE.sub(lambda m: f"`{m[1]}`", text)
    text = _ROLE_OTHER.sub(lambda m: m["text"] if m["text"] is not None else m["plain"], text)
    return text.strip("\n")


def citations(bib: str | Path) -> dict[str, tuple[str, str]]:
    """Author-year labels of a BibTeX file: key -> ("Gelman et al.", "2013")."""
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(bib), bib_format="bibtex").entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
        who = names[0] if len(names) == 1 else f"{names[0]} and {names[1]}" if len(names) == 2 else f"{names[0]} et al."
        out[key] = (who or key, entry.fields.get("year", "n.d."))
    return out


def mathjax_macros(root: str | Path = ROOT) -> str:
    """The book's MathJax macros (``_config.yml``) as ``\\newcommand`` lines for a notebook's first cell."""
    config = yaml.safe_load((Path(root) / "_config.yml").read_text()) or {}
    macros = (((config.get("sphinx") or {}).get("config") or {}).get("mathjax3_config") or {}).get("tex", {}).get("macros", {})
    out = []
    for name, value in macros.items():
        body, nargs = (value[0], value[1]) if isinstance(value, list) else (value, 0)
        out.append(f"$\\newcommand{{\\{name}}}" + (f"[{nargs}]" if nargs else "") + f"{{{body}}}$")
    return " ".join(out)


def student_notebook(nb, chapter: int | None, *, name: str = "notebook", number_of: dict[str, str] | None = None,
                     citations: dict[str, tuple[str, str]] | None = None, macros: str = ""):
    """Return the student version of a chapter notebook (the input is not changed).

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The chapter notebook.
    chapter : int or None
        Its chapter number, used to number the exercises.
    name : str
        The notebook's name, for error messages.
    number_of : dict of str to str, optional
        Exercise label -> number for the whole book, to resolve cross-chapter
        references such as ``{ref}`es-ex-pooled```.
    citations : dict, optional
        Author-year labels of the bibliography (see :func:`citations`).
    macros : str, optional
        MathJax ``\\newcommand`` definitions, put after the title of the first
        Markdown cell so that the book's macros also work in Jupyter.

    Raises
    ------
    ValueError
        If a cell inside a ``solution-start``/``solution-end`` block is not
        tagged ``solution``, a marker cell holds more than its marker, a block
        is not closed, or the notebook has exercises but no solutions. (An
        exercise without a self-check is exported; ``main`` warns about it and
        the test suite fails on it.)
    """
    found = exercises(nb, chapter, name)
    numbers = dict(number_of or {})
    numbers.update({e.label: e.number for e in found if e.label})
    pending = list(found)

    out = nbformat.v4.new_notebook()
    out.metadata = {key: nb.metadata[key] for key in ("kernelspec", "language_info") if key in nb.metadata}
    in_solution, has_solution = False, False
    previous_stub = None
    for index, cell in enumerate(nb.cells):
        names = _markdown_names(cell)
        where = f"{name}, cell {index}"
        if "solution-start" in names:
            if in_solution:
                raise ValueError(f"{where}: solution-start inside an open solution block")
            in_solution, has_solution = True, True
        markers = set(names) & {"solution-start", "solution-end"}
        if markers and (len(names) > 1 or _convert_markdown(cell.source, [], {}).strip()):
            raise ValueError(f"{where}: a solution-start/solution-end cell must hold only that directive")
        if in_solution and not _is_solution(cell) and not markers:
            raise ValueError(f"{where}: a cell inside a solution block must be tagged 'solution'")
        if "solution-end" in names:
            if not in_solution:
                raise ValueError(f"{where}: solution-end without solution-start")
            in_solution = False

        if _is_solution(cell):
            if previous_stub == cell.cell_type:
                continue  # adjacent solution cells of one kind become one stub
            previous_stub = cell.cell_type
            if cell.cell_type == "code":
                out.cells.append(nbformat.v4.new_code_cell(CODE_STUB))
            else:
                out.cells.append(nbformat.v4.new_markdown_cell(MARKDOWN_STUB))
            continue
        if cell.cell_type == "markdown":
            text = _convert_markdown(cell.source, pending, numbers, citations)
            if not text.strip():
                continue  # a bare solution-start / solution-end marker
            previous_stub = None
            out.cells.append(nbformat.v4.new_markdown_cell(text))
        elif cell.cell_type == "code":
            previous_stub = None
            tags = [t for t in cell.get("metadata", {}).get("tags", []) if not t.startswith("solution")]
            out.cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"tags": tags} if tags else {}))
        else:  # raw cells are build-only (e.g. LaTeX); students do not need them
            continue
    if in_solution:
        raise ValueError(f"{name}: a solution-start block is never closed with solution-end")
    if found and not has_solution and not any(d for c in nb.cells for d in _markdown_names(c) if d == "solution"):
        raise ValueError(f"{name}: has exercises but no solution blocks")
    first = next((c for c in out.cells if c.cell_type == "markdown"), None)
    if macros and first is not None:
        title, _, rest = first.source.partition("\n")
        first.source = f"{title}\n\n{macros}\n\n{rest.lstrip()}".rstrip() if title.startswith("#") else f"{macros}\n\n{first.source}"
    for i, cell in enumerate(out.cells):
        cell["id"] = f"student-{i}"
    return out


def dependencies(root: str | Path = ROOT) -> list[str]:
    """The project's runtime dependencies (``[project] dependencies`` of ``pyproject.toml``)."""
    with (Path(root) / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["project"].get("dependencies", []))


def requirements(root: str | Path = ROOT) -> str:
    """The student edition's ``requirements.txt``: the project's dependencies, a notebook front end and ``hbm``."""
    deps = dependencies(root)
    named = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in deps}
    extra = [e for e in STUDENT_EXTRA if re.split(r"[<>=!~;\[ ]", e, maxsplit=1)[0].lower() not in named]
    lines = ["# Packages needed to run the workbook's notebooks (install into a Python >= 3.11 environment).",
             *deps, *extra,
             "# the workbook's helper package (data loaders, plotting style, self-checks), from this folder", "-e ."]
    return "\n".join(lines) + "\n"


PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "hbm"
version = "{version}"
description = "Helper package for the hierarchical Bayesian modelling workbook (student edition)"
requires-python = ">=3.11"
dependencies = {dependencies}

[tool.setuptools.packages.find]
where = ["src"]
"""

README = """\
# Hierarchical Bayesian Modelling — student edition

The chapter notebooks of the workbook, without their worked solutions. Where
the book shows a solution, you find a cell

```python
# YOUR CODE HERE
raise NotImplementedError
```

(or "_Write your answer here._" for a written answer). Replace it with your
own code, then run the cell after it: a self-check (`es.checks.check_...(...)`) that says
PASS or FAIL, with its tolerance, without telling you the answer. Name your
answers as the exercise says (`pooled_mean`, `idata_noncentred`, ...): the
self-check and the later cells use those names. Run each notebook from the top.

## Set-up

You need Python 3.11 or newer and Graphviz's `dot` (Debian/Ubuntu:
`sudo apt-get install graphviz`; macOS: `brew install graphviz`). In this folder:

```bash
python3 -m venv .venv
.venv/bin/python -m pip install -r requirements.txt     # Windows: .venv\\Scripts\\python
.venv/bin/jupyter lab
```

`requirements.txt` installs the `hbm` helper package from `src/` in editable
mode; its data loaders read the files in `data/` (described in `data/README.md`),
so keep the folder's layout as it is.

## Chapters

{chapters}
"""


def export(out: str | Path, *, root: str | Path = ROOT, notebooks: list[tuple[Path, int | None]] | None = None) -> list[Exercise]:
    """Write the student edition into ``out`` (which is replaced).

    Parameters
    ----------
    out : str or pathlib.Path
        The output folder; an existing folder is removed first.
    root : str or pathlib.Path
        The repository root whose ``src/hbm``, ``data/``, ``requirements.txt``
        and (unless ``notebooks`` is given) ``_toc.yml`` are used.
    notebooks : list of (path, chapter number), optional
        The notebooks to export; by default the chapters (:func:`book_chapters`).

    Returns
    -------
    list of Exercise
        Every exercise of the edition, with its number and self-check calls.
    """
    root, out = Path(root), Path(out)
    chapters = book_chapters(root) if notebooks is None else [(Path(p), c) for p, c in notebooks]
    if not chapters:
        raise ValueError("no chapter notebooks to export")
    if out.resolve() in {root.resolve(), (root / "book").resolve()} or root.resolve().is_relative_to(out.resolve()):
        raise ValueError(f"refusing to write the student edition over the repository: {out}")
    books = []
    for path, chapter in chapters:
        if not path.is_file():
            raise ValueError(f"chapter notebook {path} listed in _toc.yml does not exist")
        books.append((path, chapter, nbformat.read(path, as_version=4)))
    number_of, every = {}, []
    for path, chapter, nb in books:
        found = exercises(nb, chapter, path.name)
        number_of.update({e.label: e.number for e in found if e.label})
        every += found
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    listing = []
    bib = root / "book" / "references.bib"
    labels = citations(bib) if bib.is_file() else {}
    macros = mathjax_macros(root)
    for path, chapter, nb in books:
        student = student_notebook(nb, chapter, name=path.name, number_of=number_of, citations=labels, macros=macros)
        nbformat.validate(student)
        nbformat.write(student, out / path.name)
        title = next((c.source.split("\n", 1)[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"), path.stem)
        listing.append(f"- `{path.name}`: {title}")
    shutil.copytree(root / "data", out / "data", ignore=shutil.ignore_patterns(".*"))
    # symlinks stay links: hbm/datasets -> ../../data points at the edition's own data/ folder
    shutil.copytree(root / "src" / "hbm", out / "src" / "hbm", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    from hbm import __version__

    deps = "[" + ", ".join(f'"{d}"' for d in dependencies(root)) + "]"
    (out / "pyproject.toml").write_text(PYPROJECT.format(version=__version__, dependencies=deps))
    (out / "requirements.txt").write_text(requirements(root))
    (out / "README.md").write_text(README.format(chapters="\n".join(listing)))
    return every


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m hbm_book.student [--out _build/student]``."""
    parser = argparse.ArgumentParser(prog="python -m hbm_book.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "_build" / "student"), help="output folder (replaced)")
    parser.add_argument("--root", default=str(ROOT), help="repository root")
    args = parser.parse_args(argv)
    found = export(args.out, root=args.root)
    print(f"Student edition written to {Path(args.out).resolve()}: {len(found)} exercises")
    for e in found:
        print(f"  {e.notebook}  Exercise {e.number or '-'} {e.title}  ->  {', '.join(e.checks) or 'WARNING: no self-check call'}")


if __name__ == "__main__":
    main()
