"""The chapters of the book, each described once in its slice's ``chapter.toml``.

Every chapter is one folder ``src/hbm/<slug>/`` (its models, exact answers and self-checks)
holding a ``chapter.toml`` descriptor. Timings, benchmarks, the key-number check, the
instructors page and the student edition read the descriptors instead of keeping lists of
their own. This module uses only the standard library, so build tools can read the
descriptors without importing PyMC.

Each exercise of a chapter has one ``[[exercises]]`` table in its ``chapter.toml``, keyed by
the exercise directive's ``:label:``::

    [[exercises]]
    label = "es-ex-pooled"      # the sphinx-exercise :label:
    sheet = "Problem 1 a"       # the course problem sheet's numbering, or "" when not on the sheet
    points = 4                  # weighted by difficulty
    minutes = 30                # estimated student time: reading, coding, running

Coursework that is not a chapter (Problem 4, a project on the student's own data set) is
described in ``src/hbm/coursework.toml`` (:func:`projects`): its notebook, its place on the
sheet, the estimated time and a rubric whose points add up to the project's points.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
COURSEWORK = PACKAGE_DIR / "coursework.toml"

SHEET = re.compile(r"Problem [1-9][0-9]*( [a-z](\.[ivx]+)?)?")
"""A place on the course problem sheet: ``Problem 1``, ``Problem 2 b`` or ``Problem 2 b.iii``."""


@dataclass(frozen=True)
class Exercise:
    """Course metadata of one exercise (an ``[[exercises]]`` table of a ``chapter.toml``).

    Attributes
    ----------
    label : str
        The exercise directive's ``:label:``, ``es-ex-pooled``; unique in the book.
    sheet : str
        Its place on the course problem sheet, ``Problem 1 a``, or ``""`` when the exercise goes
        beyond the sheet.
    points : int
        Points, weighted by difficulty (positive).
    minutes : int
        Estimated student time in minutes: reading, coding and running (positive).
    """

    label: str
    sheet: str
    points: int
    minutes: int


@dataclass(frozen=True)
class Criterion:
    """One line of a project's rubric."""

    criterion: str
    points: int
    description: str


@dataclass(frozen=True)
class Project:
    """Coursework that is not a chapter, described in ``src/hbm/coursework.toml``.

    Attributes
    ----------
    notebook : str
        The template notebook's stem in ``book/``.
    title : str
        Its title.
    sheet : str
        Its place on the course problem sheet (``Problem 4``).
    minutes : int
        Estimated student time in minutes.
    rubric : tuple of Criterion
        What is graded; the project's points are the sum of the criteria's points.
    """

    notebook: str
    title: str
    sheet: str
    minutes: int
    rubric: tuple[Criterion, ...]

    @property
    def points(self) -> int:
        """The project's points: the sum of its rubric's."""
        return sum(c.points for c in self.rubric)


@dataclass(frozen=True)
class Chapter:
    """One chapter, as described by ``src/hbm/<slug>/chapter.toml``.

    Attributes
    ----------
    slug : str
        The folder name, ``eight_schools``; also the module ``hbm.<slug>``.
    number : int
        Chapter number in the book.
    notebook : str
        The notebook's stem in ``book/``, ``01_eight_schools``.
    title : str
        The chapter title.
    glue_prefix : str
        Prefix of every glue key of the chapter, ``es_``.
    budget_seconds : float
        Expected execution time of the notebook on the reference 2-core machine (a report, not a gate).
    datasets : list of str
        Names of the data sets it loads (``hbm.data.load(name)``).
    benchmark_model : str
        ``"function"`` in ``hbm.<slug>`` returning ``(model, description)``: the chapter's main
        model for the sampler benchmark.
    goals : list of str
        Learning goals, shown on the instructors page.
    exercises : tuple of Exercise
        Course metadata of each exercise (``[[exercises]]`` tables), in the file's order.
    """

    slug: str
    number: int
    notebook: str
    title: str
    glue_prefix: str
    budget_seconds: float
    datasets: list[str] = field(default_factory=list)
    benchmark_model: str = ""
    goals: list[str] = field(default_factory=list)
    exercises: tuple[Exercise, ...] = ()

    @property
    def module(self) -> str:
        """The chapter's module, ``hbm.eight_schools``."""
        return f"hbm.{self.slug}"

    @property
    def folder(self) -> Path:
        """The chapter's folder in the package."""
        return PACKAGE_DIR / self.slug

    def exercise(self, label: str) -> Exercise:
        """The metadata of one exercise by its label."""
        for e in self.exercises:
            if e.label == label:
                return e
        raise KeyError(f"{self.folder / 'chapter.toml'} has no [[exercises]] table with label = {label!r}")


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive whole number, got {value!r}")
    return value


def _text(value, what: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ValueError(f"{what} must be {'a' if empty else 'a non-empty'} string, got {value!r}")
    return value


def _sheet(value, what: str) -> str:
    _text(value, what, empty=True)
    if value and not SHEET.fullmatch(value):
        raise ValueError(f"{what} must be \"\" (not on the sheet) or like \"Problem 1\", \"Problem 2 b\" "
                         f"or \"Problem 2 b.iii\", got {value!r}")
    return value


def _table(spec, keys: tuple[str, ...], where: str) -> dict:
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a table with keys {list(keys)}, got {spec!r}")
    missing = [k for k in keys if k not in spec]
    unknown = sorted(set(spec) - set(keys))
    if missing or unknown:
        raise ValueError(f"{where}: " + "; ".join(
            ([f"missing key(s) {missing}"] if missing else []) + ([f"unknown key(s) {unknown}"] if unknown else []))
            + f" (expected {list(keys)})")
    return spec


def parse_exercises(tables, where: str = "chapter.toml") -> tuple[Exercise, ...]:
    """Validate a chapter's ``[[exercises]]`` tables and return them as :class:`Exercise` objects.

    Raises
    ------
    ValueError
        If a table lacks a key or has an unknown one, the label is empty or has white space, the
        sheet is neither ``""`` nor like ``Problem 2 b.iii``, points or minutes are not positive
        whole numbers, or two tables share a label. The message names ``where`` and the table.
    """
    if not isinstance(tables, list):
        raise ValueError(f"{where}: exercises must be [[exercises]] tables, got {tables!r}")
    out, seen = [], set()
    for i, spec in enumerate(tables, start=1):
        at = f"{where}, [[exercises]] table {i}"
        spec = _table(spec, ("label", "sheet", "points", "minutes"), at)
        label = _text(spec["label"], f"{at}: label")
        if label != label.strip() or any(ch.isspace() for ch in label):
            raise ValueError(f"{at}: label must have no white space, got {label!r}")
        at = f"{where}, [[exercises]] {label!r}"
        if label in seen:
            raise ValueError(f"{at}: the label is used by two tables")
        seen.add(label)
        out.append(Exercise(label=label, sheet=_sheet(spec["sheet"], f"{at}: sheet"),
                            points=_positive_int(spec["points"], f"{at}: points"),
                            minutes=_positive_int(spec["minutes"], f"{at}: minutes")))
    return tuple(out)


def read_chapter(path: str | Path) -> Chapter:
    """Read and validate one ``chapter.toml`` (the slug is its folder's name)."""
    path = Path(path)
    with path.open("rb") as f:
        spec = tomllib.load(f)
    spec["exercises"] = parse_exercises(spec.get("exercises", []), str(path))
    try:
        return Chapter(slug=path.parent.name, **spec)
    except TypeError as exc:
        raise ValueError(f"{path}: {exc}") from None


def chapters() -> list[Chapter]:
    """Every chapter with a ``chapter.toml``, in book order.

    Raises
    ------
    ValueError
        If a descriptor is invalid, or two chapters use the same exercise label.
    """
    found = sorted((read_chapter(path) for path in PACKAGE_DIR.glob("*/chapter.toml")), key=lambda c: c.number)
    owner: dict[str, str] = {}
    for c in found:
        for e in c.exercises:
            if e.label in owner:
                raise ValueError(f"exercise label {e.label!r} is in the [[exercises]] of both "
                                 f"{owner[e.label]} and {c.slug}")
            owner[e.label] = c.slug
    return found


def chapter(key: str | int) -> Chapter:
    """One chapter by slug (``eight_schools``), notebook (``01_eight_schools``) or number."""
    for c in chapters():
        if key in (c.slug, c.notebook, c.number, f"{c.number:02d}"):
            return c
    raise KeyError(f"no chapter {key!r}; chapters are {[c.notebook for c in chapters()]}")


def exercises() -> dict[str, Exercise]:
    """Every exercise's metadata in the book, by label, in book order."""
    return {e.label: e for c in chapters() for e in c.exercises}


def parse_projects(spec: dict, where: str = "coursework.toml") -> list[Project]:
    """Validate the ``[[projects]]`` tables of a coursework descriptor.

    Raises
    ------
    ValueError
        If a project or a rubric line lacks a key or has an unknown one, a text is empty, the
        sheet is malformed, minutes or points are not positive whole numbers, a project has no
        rubric, or two projects share a notebook.
    """
    tables = spec.get("projects", [])
    unknown = sorted(set(spec) - {"projects"})
    if unknown or not isinstance(tables, list):
        raise ValueError(f"{where}: expected only [[projects]] tables, got {unknown or tables!r}")
    out, seen = [], set()
    for i, table in enumerate(tables, start=1):
        at = f"{where}, [[projects]] table {i}"
        table = _table(table, ("notebook", "title", "sheet", "minutes", "rubric"), at)
        notebook = _text(table["notebook"], f"{at}: notebook")
        at = f"{where}, [[projects]] {notebook!r}"
        if notebook in seen:
            raise ValueError(f"{at}: two projects use this notebook")
        seen.add(notebook)
        rubric = table["rubric"]
        if not isinstance(rubric, list) or not rubric:
            raise ValueError(f"{at}: rubric must be one or more [[projects.rubric]] tables")
        criteria = []
        for j, line in enumerate(rubric, start=1):
            where_line = f"{at}, rubric line {j}"
            line = _table(line, ("criterion", "points", "description"), where_line)
            criteria.append(Criterion(criterion=_text(line["criterion"], f"{where_line}: criterion"),
                                      points=_positive_int(line["points"], f"{where_line}: points"),
                                      description=_text(line["description"], f"{where_line}: description")))
        out.append(Project(notebook=notebook, title=_text(table["title"], f"{at}: title"),
                           sheet=_sheet(table["sheet"], f"{at}: sheet"),
                           minutes=_positive_int(table["minutes"], f"{at}: minutes"), rubric=tuple(criteria)))
    return out


def projects(path: str | Path = COURSEWORK) -> list[Project]:
    """The coursework that is not a chapter (``src/hbm/coursework.toml``), in the file's order;
    empty if there is no such file."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open("rb") as f:
        return parse_projects(tomllib.load(f), str(path))


def project(notebook: str) -> Project:
    """One project by its notebook's stem."""
    for p in projects():
        if p.notebook == notebook:
            return p
    raise KeyError(f"no project {notebook!r}; projects are {[p.notebook for p in projects()]}")
