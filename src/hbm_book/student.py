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

What the student gets instead of the book's build-only markup:

- a cell tagged ``remove-in-student`` is left out, and so is a ``solution`` code cell whose only
  statements are glue calls (``hbm.glue(...)``; loops of them included): it gives no stub;
- a glued number in given prose (``{glue:text}`es_pooled_mean:.1f```) shows its value from the
  last build (``_build/jupyter_execute`` or ``_build/chapters/NB``) when a given cell glues it from
  given data alone, else the glued expression in backticks (the student's own value is printed
  where it is computed);
- references to figures and sections read "the figure above", "your figure for Exercise 2.3",
  section "Title"; ``(label)=`` target lines are dropped.

The export also lists the chapter's *problems* (:attr:`Edition.problems`, printed by ``make
student``; ``tests/test_student.py`` fails on them): a given cell reading a name that only a
solution defines and no exercise text announces (see :mod:`hbm_book.student_names`), a given cell
reading a file the edition does not ship, given prose quoting a number only a solution glues, a
reference the export cannot resolve, and a written-answer prompt for an exercise that asks no
written question.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from hbm_book import ROOT
from hbm_book.student_names import BUILTIN_NAMES, announced_names, cell_names

SOLUTION_TAG = "solution"
REMOVE_TAG = "remove-in-student"
"""A cell with this tag (given or solution) is left out of the student edition."""
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
    text: str = ""
    """The exercise's title and text (not its options: a ``:label:`` announces nothing)."""

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


def _is_glue_call(node: ast.AST) -> bool:
    """``glue(...)``, ``hbm.glue(...)``: a call of a function named ``glue``."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "glue") or (isinstance(func, ast.Attribute) and func.attr == "glue")


def glue_only(source: str) -> bool:
    """True for code whose only statements are glue calls (also inside ``for``/``if`` blocks)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False

    def only(stmts) -> bool:
        for stmt in stmts:
            if isinstance(stmt, ast.Expr) and _is_glue_call(stmt.value) or isinstance(stmt, ast.Pass):
                continue
            if isinstance(stmt, (ast.For, ast.If)) and only(stmt.body) and only(stmt.orelse):
                continue
            return False
        return True

    return bool(body) and only(body)


def _dropped(cell) -> bool:
    """Left out of the student edition: tagged ``remove-in-student``, or a solution that only glues."""
    return REMOVE_TAG in _tags(cell) or (_is_solution(cell) and cell.cell_type == "code" and glue_only(cell.source))


@dataclass
class _Glue:
    pattern: re.Pattern
    kind: str  # "given" (from given data), "student" (a given cell reading the student's answers), "solution"
    expression: ast.AST | None  # the glued value (or its MCSE)

    def fallback(self, key: str) -> str:
        """The glued expression in backticks, with an f-string key's loop variables put in (else "")."""
        if self.expression is None:
            return ""
        m = self.pattern.fullmatch(key)
        values = {name: value for name, value in (m.groupdict() if m else {}).items() if value is not None}

        class Put(ast.NodeTransformer):
            def visit_Name(self, node):
                return ast.Constant(values[node.id]) if node.id in values else node

        text = ast.unparse(Put().visit(ast.parse(ast.unparse(self.expression), mode="eval")))
        return f"`{text}`" if len(text) <= 80 else ""


def _glue_calls(source: str, kind: str) -> list[_Glue]:
    """The glue keys (patterns, for f-string keys) of a code cell, with the expressions they glue."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if not _is_glue_call(node) or not node.args:
            continue
        key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            pattern = re.escape(key.value)
        elif isinstance(key, ast.JoinedStr):
            parts, seen = [], set()
            for v in key.values:
                if isinstance(v, ast.Constant):
                    parts.append(re.escape(str(v.value)))
                elif isinstance(v.value, ast.Name) and v.value.id not in seen:  # f"es_nc_{name}_mean"
                    seen.add(v.value.id)
                    parts.append(rf"(?P<{v.value.id}>[\w.-]+?)")
                else:
                    parts.append(r"[\w.-]+?")
            pattern = "".join(parts)
        else:
            continue
        value = node.args[1] if len(node.args) > 1 else None
        found.append(_Glue(re.compile(pattern), kind, value))
        mcse = next((k.value for k in node.keywords if k.arg == "mcse"), None)
        if mcse is not None:
            found.append(_Glue(re.compile(pattern + "_mcse"), kind, mcse))
    return found


WRITTEN_QUESTION = re.compile(r"\?|\b(explain|describe|discuss|comment|interpret|justify|argue|why|whether|in words)\b", re.I)
"""What an exercise's text must contain when it gets a written-answer prompt (else :func:`scan` reports a
stray prompt: tag the Markdown solution ``remove-in-student``, or ask the question)."""
_PATH = re.compile(r"^[\w.~/\\-]*[/\\]?[\w.-]+\.(json|csv|tsv|txt|npz|npy|nc|pkl|pickle|parquet|feather|h5|hdf5|"
                   r"stan|ya?ml|toml|xlsx?|dat)$", re.I)
_WRITES = re.compile(r"^(savefig|save\w*|to_\w+|write\w*|dump\w*)$")
_TARGET = re.compile(r"^\(([\w:.-]+)\)=\s*$", re.M)


@dataclass
class Scan:
    """What the export knows about one chapter notebook before converting it."""

    problems: list[str] = field(default_factory=list)
    glue: list[_Glue] = field(default_factory=list)
    figures: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    """Figure name -> (cell index, number of the exercise whose solution draws it, or None)."""
    sections: dict[str, str] = field(default_factory=dict)
    """``(label)=`` target -> the heading after it."""
    paths: list[tuple[int, str]] = field(default_factory=list)
    """(cell index, string) of every file path a given code cell names (reads)."""


def _read_paths(source: str) -> list[str]:
    """String constants of a cell that look like file paths, except arguments of ``savefig``/``to_*``/``write*``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    written = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if _WRITES.match(name):
                written.update(id(a) for a in node.args)
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in written and _PATH.match(n.value)]


def scan(nb, chapter: int | None = None, name: str = "notebook") -> Scan:
    """Check a chapter's given cells the way a student's run meets them, and collect its glue and labels.

    For every given (untagged, not ``remove-in-student``) code cell, every name it reads must be
    defined by an earlier given cell, imported, built in, or announced in backticks by the text of an
    earlier exercise (:func:`hbm_book.student_names.announced_names`); anything else is a problem,
    as is a cell that is not Python. A name a given cell binds from the student's answers (or from
    names so derived) makes the numbers it glues the student's: the edition does not show the
    book's value for them.
    """
    out = Scan()
    found = exercises(nb, chapter, name)
    defined: set[str] = set()
    announced: set[str] = set()
    from_solutions: set[str] = set()
    student: set[str] = set()  # given names computed from the student's answers
    n_exercise, current, in_solution = 0, None, False
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        solution = _is_solution(cell)
        if cell.cell_type == "markdown":
            for d in _directives(cell.source) if not solution else []:
                if d.name in EXERCISE_NAMES:
                    current = found[n_exercise] if n_exercise < len(found) else None
                    n_exercise += 1
                    announced |= announced_names(d.arg + "\n" + d.body)
                elif d.name == "solution-start":
                    in_solution = True
                elif d.name == "solution-end":
                    in_solution = False
            for m in _TARGET.finditer(cell.source):
                after = cell.source[m.end():].lstrip("\n").split("\n", 1)[0]
                out.sections[m[1]] = after.lstrip("#").strip() if after.startswith("#") else m[1]
            continue
        if cell.cell_type != "code":
            continue
        figure = ((cell.metadata.get("mystnb") or {}).get("figure") or {}).get("name")
        if figure:
            owner = (current.number or current.title) if current is not None and (solution or in_solution) else None
            out.figures[figure] = (index, owner)
        if solution:
            out.glue += _glue_calls(cell.source, "solution")
            try:
                from_solutions |= cell_names(cell.source).binds
            except SyntaxError:
                pass
            continue
        if _dropped(cell):
            out.glue += _glue_calls(cell.source, "given")
            continue
        try:
            names = cell_names(cell.source)
        except SyntaxError as err:
            out.problems.append(f"{where}: not Python ({err.msg}, line {err.lineno}); the name test cannot read it")
            continue
        for n in names.reads:
            if n in defined or n in BUILTIN_NAMES or n in announced:
                continue
            why = ("only a solution defines it and no exercise text announces it in backticks (name, type, layout)"
                   if n in from_solutions else "no earlier given cell defines it")
            out.problems.append(f"{where}: reads `{n}`, but {why}")
        theirs = any((n in announced and n not in defined) or n in student for n in names.reads)
        student = (student | names.binds) if theirs else (student - names.binds)
        defined = (defined | names.binds) - names.deletes
        out.glue += _glue_calls(cell.source, "student" if theirs else "given")
        out.paths += [(index, path) for path in _read_paths(cell.source)]
    for e in found:
        if e.written_answers and not WRITTEN_QUESTION.search(e.text):
            out.problems.append(f"{name}: exercise {e.number or e.title} gets a written-answer prompt but asks no "
                                f"written question (tag its Markdown solution cells '{REMOVE_TAG}', or ask one)")
    return out


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
        if _dropped(cell):
            continue  # not in the edition: neither a stub nor a check
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
                current = Exercise(name, number, d.options.get("label", ""), d.arg, text=f"{d.arg}\n{d.body}")
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
_ROLE_GLUE = re.compile(r"\{glue(?::\w+)?\}`(?P<key>[^`:]+)(?::(?P<spec>[^`]*))?`")
_ROLE_CITE = re.compile(r"\{cite(?::(?P<kind>[a-z]+))?\}`(?P<keys>[^`]+)`")
_ROLE_OTHER = re.compile(r"\{[\w:-]+\}`(?:(?P<text>[^`<]*?)\s*<[^`>]+>|(?P<plain>[^`]+))`")


def _convert_markdown(text: str, pending: list[Exercise], number_of: dict[str, str],
                      citations: dict[str, tuple[str, str]] | None = None, *,
                      glue_text: Callable[[str, str | None], str] | None = None,
                      resolve: Callable[[str], str | None] | None = None) -> str:
    """Turn the MyST of a non-solution Markdown cell into Markdown that Jupyter shows.

    Exercise directives become a bold heading and their text; ``{solution}``
    directives become the answer prompt; solution markers disappear;
    admonitions become block quotes and ``{math}`` blocks display maths.
    References to exercises read "Exercise 1.2", citations "Rubin (1981)" or
    "(Rubin 1981)", other references what ``resolve(label)`` gives, and glued numbers
    ``glue_text(key, format_spec)`` (by default their key in backticks).
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
        if number_of.get(target):
            return f"Exercise {number_of[target]}"
        found = resolve(target) if resolve is not None else None
        return found if found is not None else target

    def cite(m: re.Match) -> str:
        keys = [k.strip() for k in m["keys"].split(",")]
        known = citations or {}
        if m["kind"] == "t":
            return ", ".join(f"{known[k][0]} ({known[k][1]})" if k in known else k for k in keys)
        return "(" + "; ".join(f"{known[k][0]} {known[k][1]}" if k in known else k for k in keys) + ")"

    text = _ROLE_REF.sub(ref, "\n".join(lines))
    text = _ROLE_CITE.sub(cite, text)
    text = _ROLE_GLUE.sub(lambda m: glue_text(m["key"], m["spec"]) if glue_text else f"`{m['key']}`", text)
    text = _TARGET.sub("", text)  # MyST targets "(label)=" are build-only
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
                     citations: dict[str, tuple[str, str]] | None = None, macros: str = "",
                     glue_values: dict | None = None, problems: list[str] | None = None,
                     stubs: dict[int, list[str]] | None = None, ships: Callable[[str], bool] | None = None):
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
    glue_values : dict, optional
        Glued values of the last build (:func:`build_glue`), shown for the keys that given cells
        glue from given data.
    problems : list of str, optional
        Filled with what the student edition of this chapter still gets wrong (see :func:`scan`).
    stubs : dict, optional
        Filled with stub cell index -> the sources of the solution cells it replaces.
    ships : callable, optional
        ``ships(path)`` tells whether a file path a given cell reads exists in the edition.

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
    scanned = scan(nb, chapter, name)
    problems = [] if problems is None else problems
    problems += scanned.problems
    if ships is not None:
        problems += [f"{name}, cell {i}: reads the file {path!r}, which the student edition does not ship"
                     for i, path in scanned.paths if not ships(path)]
    glue_values = glue_values or {}
    position = 0

    def glue_text(key: str, spec: str | None) -> str:
        matches = [g for g in scanned.glue if g.pattern.fullmatch(key)]
        kinds = {g.kind for g in matches}
        if "given" in kinds and key in glue_values:
            try:
                return format(glue_values[key], spec or "")
            except (TypeError, ValueError):
                return str(glue_values[key])
        if kinds - {"solution"}:
            return next((text for g in matches if g.kind != "solution" and (text := g.fallback(key))), f"`{key}`")
        problems.append(f"{name}, cell {position}: given prose quotes the glued number `{key}`, which "
                        + ("only a solution computes" if kinds else "no cell glues"))
        return f"`{key}`"

    def resolve(label: str) -> str | None:
        if label in scanned.figures:
            index, owner = scanned.figures[label]
            if owner:
                return f"your figure for Exercise {owner}"
            return "the figure above" if index < position else "the figure below"
        if label in scanned.sections:
            return f"section \u201c{scanned.sections[label]}\u201d"
        problems.append(f"{name}, cell {position}: a reference to `{label}`, which the student edition cannot resolve")
        return "(see the book)"

    out = nbformat.v4.new_notebook()
    out.metadata = {key: nb.metadata[key] for key in ("kernelspec", "language_info") if key in nb.metadata}
    in_solution, has_solution = False, False
    previous_stub = None
    for index, cell in enumerate(nb.cells):
        position = index
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

        if _dropped(cell):
            continue
        if _is_solution(cell):
            if previous_stub == cell.cell_type:
                if cell.cell_type == "code" and stubs is not None:
                    stubs[len(out.cells) - 1].append(cell.source)
                continue  # adjacent solution cells of one kind become one stub
            previous_stub = cell.cell_type
            if cell.cell_type == "code":
                if stubs is not None:
                    stubs[len(out.cells)] = [cell.source]
                out.cells.append(nbformat.v4.new_code_cell(CODE_STUB))
            else:
                out.cells.append(nbformat.v4.new_markdown_cell(MARKDOWN_STUB))
            continue
        if cell.cell_type == "markdown":
            text = _convert_markdown(cell.source, pending, numbers, citations, glue_text=glue_text, resolve=resolve)
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

You need three things besides this folder:

- **Python 3.11 or newer.**
- **A C/C++ compiler.** PyMC's engine, PyTensor, compiles every model to C++; without a
  compiler it warns and runs very slowly.
  - Debian/Ubuntu: `sudo apt-get install g++` (Fedora: `sudo dnf install gcc-c++`).
  - macOS: the Xcode Command Line Tools, `xcode-select --install` (they provide `clang++`).
  - conda (any system): `conda install -c conda-forge gxx` on Linux, `clangxx` on macOS.
  - Windows: the simplest is WSL (`wsl --install`, then follow the Ubuntu lines inside it);
    otherwise Miniforge/conda, as PyMC's installation guide recommends on Windows, with the
    MinGW toolchain: `conda install -c conda-forge m2w64-toolchain`.
- **Graphviz** (`dot`, for the model graphs): `sudo apt-get install graphviz`,
  `brew install graphviz`, or `conda install -c conda-forge graphviz` (Windows: conda, or the
  installer from graphviz.org with its `bin` folder on `PATH`).

Check the compiler with `g++ --version` (or `clang++ --version`). Then, in this folder:

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


class Edition(list):
    """The exercises of an exported student edition (a list of :class:`Exercise`), with what the export found."""

    def __init__(self, exercises=(), problems=(), stubs=None):
        super().__init__(exercises)
        self.problems: list[str] = list(problems)
        """What the chapters still get wrong for a student (see :func:`scan`); empty when all is well."""
        self.stubs: dict[str, dict[int, list[str]]] = dict(stubs or {})
        """Notebook name -> {stub cell index: the sources of the solution cells it replaces}."""


def build_glue(root: str | Path, stem: str) -> dict:
    """The glued values of a chapter in the newest build that executed it, or ``{}``.

    Looks in ``_build/jupyter_execute/book/`` (``make book``, ``make build-force``) and
    ``_build/chapters/<stem>/_build/jupyter_execute/book/`` (``make chapter``).
    """
    from hbm_book.summary import EXECUTED_FOLDER, notebook_glue

    root = Path(root)
    folders = [root / "_build" / EXECUTED_FOLDER, root / "_build" / "chapters" / stem / "_build" / EXECUTED_FOLDER]
    built = [f for f in folders if (f / "book" / f"{stem}.ipynb").is_file()]
    if not built:
        return {}
    newest = max(built, key=lambda f: (f / "book" / f"{stem}.ipynb").stat().st_mtime)
    try:
        return notebook_glue(newest, f"book/{stem}")
    except (OSError, ValueError):
        return {}


def coursework(root: str | Path = ROOT) -> list[tuple[Path, None]]:
    """The coursework templates (``src/hbm/coursework.toml``, :func:`hbm.chapters.projects`), which
    the edition holds as they are: they have no exercises or solutions and no chapter number."""
    from hbm.chapters import projects

    root = Path(root)
    return [(root / "book" / f"{p.notebook}.ipynb", None)
            for p in projects(root / "src" / "hbm" / "coursework.toml")]


def export(out: str | Path, *, root: str | Path = ROOT, notebooks: list[tuple[Path, int | None]] | None = None,
           glue_values: dict[str, dict] | None = None) -> Edition:
    """Write the student edition into ``out`` (which is replaced).

    Parameters
    ----------
    out : str or pathlib.Path
        The output folder; an existing folder is removed first.
    root : str or pathlib.Path
        The repository root whose ``src/hbm``, ``data/``, ``requirements.txt``
        and (unless ``notebooks`` is given) ``_toc.yml`` are used.
    notebooks : list of (path, chapter number), optional
        The notebooks to export; by default the chapters (:func:`book_chapters`) and the
        coursework templates (:func:`coursework`).
    glue_values : dict, optional
        Notebook stem -> glued values; by default those of the last build (:func:`build_glue`).

    Returns
    -------
    Edition
        Every exercise of the edition, with its number and self-check calls; its ``problems``
        list what the chapters still get wrong for a student, its ``stubs`` the solution cells
        behind every code stub.
    """
    root, out = Path(root), Path(out)
    chapters = book_chapters(root) + coursework(root) if notebooks is None else [(Path(p), c) for p, c in notebooks]
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
    shutil.copytree(root / "data", out / "data", ignore=shutil.ignore_patterns(".*"))
    # symlinks stay links: hbm/datasets -> ../../data points at the edition's own data/ folder
    shutil.copytree(root / "src" / "hbm", out / "src" / "hbm", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    listing = []
    bib = root / "book" / "references.bib"
    labels = citations(bib) if bib.is_file() else {}
    macros = mathjax_macros(root)
    edition = Edition(every)
    for path, chapter, nb in books:
        stubs: dict[int, list[str]] = {}
        values = glue_values.get(path.stem, {}) if glue_values is not None else build_glue(root, path.stem)
        student = student_notebook(nb, chapter, name=path.name, number_of=number_of, citations=labels, macros=macros,
                                   glue_values=values, problems=edition.problems, stubs=stubs,
                                   ships=lambda p: (out / p).exists())
        edition.stubs[path.name] = stubs
        nbformat.validate(student)
        nbformat.write(student, out / path.name)
        title = next((c.source.split("\n", 1)[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"), path.stem)
        listing.append(f"- `{path.name}`: {title}")
    from hbm import __version__

    deps = "[" + ", ".join(f'"{d}"' for d in dependencies(root)) + "]"
    (out / "pyproject.toml").write_text(PYPROJECT.format(version=__version__, dependencies=deps))
    (out / "requirements.txt").write_text(requirements(root))
    (out / "README.md").write_text(README.format(chapters="\n".join(listing)))
    return edition


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m hbm_book.student [--out _build/student]``."""
    parser = argparse.ArgumentParser(prog="python -m hbm_book.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "_build" / "student"), help="output folder (replaced)")
    parser.add_argument("--root", default=str(ROOT), help="repository root")
    parser.add_argument("--strict", action="store_true", help="exit with an error if the chapters have problems")
    args = parser.parse_args(argv)
    found = export(args.out, root=args.root)
    print(f"Student edition written to {Path(args.out).resolve()}: {len(found)} exercises")
    for e in found:
        print(f"  {e.notebook}  Exercise {e.number or '-'} {e.title}  ->  {', '.join(e.checks) or 'WARNING: no self-check call'}")
    if found.problems:
        print(f"{len(found.problems)} problems for students (tests/test_student.py fails on them):")
        print("\n".join(f"  {p}" for p in found.problems))
        if args.strict:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
