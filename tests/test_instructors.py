"""Course metadata and the instructors' material: the ``[[exercises]]`` tables of every
``chapter.toml`` (one per exercise, validated by ``hbm.chapters``), their mapping to the course's
problem sheet, Problem 4 (``src/hbm/coursework.toml`` and its template notebook) and the
instructors page. No test here samples: the template's validation cell runs on small tables."""

from __future__ import annotations

import re
import tomllib

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

import hbm
from hbm import chapters
from hbm_book import ROOT, student

TEMPLATE = ROOT / "book" / "your_own_data.ipynb"
INSTRUCTORS = ROOT / "book" / "instructors.ipynb"

SHEET_PARTS = {1: ["a", "b.i", "b.ii"], 2: ["a", "b.i", "b.ii", "b.iii"], 3: ["a", "b", "c"]}
"""The course problem sheet: Problem 1 a, b.i, b.ii; Problem 2 a, b.i-b.iii; Problem 3 a-c (and
Problem 4, a data set of the student's choice). Chapter N answers Problem N for N = 1, 2, 3."""


def notebook_exercises():
    """``[(chapter, [exercise labels in its notebook])]`` for every chapter of the book."""
    numbered = {path.stem: (path, number) for path, number in student.book_chapters()}
    out = []
    for c in chapters.chapters():
        path, number = numbered[c.notebook]
        nb = nbformat.read(path, as_version=4)
        out.append((c, [e.label for e in student.exercises(nb, number, path.name)]))
    return out


# --- every exercise has exactly one table, every table an exercise ---------------------------------

def test_every_exercise_has_one_table_and_every_table_an_exercise():
    for chapter, labels in notebook_exercises():
        where = f"{chapter.notebook} / src/hbm/{chapter.slug}/chapter.toml"
        assert all(labels), f"{where}: an exercise without a :label:"
        assert len(labels) == len(set(labels)), f"{where}: two exercises share a label"
        tables = [e.label for e in chapter.exercises]
        assert len(tables) == len(set(tables)), f"{where}: two [[exercises]] tables share a label"
        missing = [label for label in labels if label not in tables]
        orphans = [label for label in tables if label not in labels]
        assert not missing, f"{where}: exercises without an [[exercises]] table: {missing}"
        assert not orphans, f"{where}: [[exercises]] tables without an exercise: {orphans}"


def test_exercise_labels_carry_their_chapters_prefix():
    for c in chapters.chapters():
        prefix = c.glue_prefix.replace("_", "-")
        assert all(e.label.startswith(prefix) for e in c.exercises), (c.slug, prefix)


def test_labels_are_unique_in_the_book():
    labels = [e.label for c in chapters.chapters() for e in c.exercises]
    assert len(labels) == len(set(labels)) == len(chapters.exercises())


def test_the_mapping_follows_the_sheet():
    """Chapters 1-3 answer Problems 1-3, each exercise on its own problem or beyond the sheet;
    every part of the sheet has an exercise; chapters 4 and 5 go beyond it; Problem 4 is the project."""
    covered = set()
    for c in chapters.chapters():
        for e in c.exercises:
            if not e.sheet:
                continue
            assert c.number in SHEET_PARTS, f"{e.label}: chapter {c.number} is beyond the sheet, got {e.sheet!r}"
            problem, _, part = e.sheet.removeprefix("Problem ").partition(" ")
            assert int(problem) == c.number, f"{e.label}: chapter {c.number} answers Problem {c.number}"
            allowed = SHEET_PARTS[c.number] + sorted({p.split(".")[0] for p in SHEET_PARTS[c.number]})
            assert part in allowed, f"{e.label}: {e.sheet!r} is not a part of the sheet"
            covered.add(e.sheet)
    expected = {f"Problem {n} {part}" for n, parts in SHEET_PARTS.items() for part in parts}
    assert expected <= covered, f"parts of the sheet without an exercise: {sorted(expected - covered)}"
    assert [p.sheet for p in chapters.projects()] == ["Problem 4"]


def test_points_weigh_difficulty():
    """Writing a sampler or a model from its specification scores more than loading and plotting."""
    points = {label: e.points for label, e in chapters.exercises().items()}
    assert points["ls-ex-gibbs"] == max(points.values())
    assert points["fd-ex-data"] == min(points.values())
    assert points["ds-ex-model"] > 2 * points["ds-ex-lightcurves"]
    assert points["es-ex-exact"] > 2 * points["es-ex-pooled"]


# --- validation of the tables -------------------------------------------------------------------------

GOOD = {"label": "xx-ex-a", "sheet": "Problem 2 b.iii", "points": 3, "minutes": 20}


@pytest.mark.parametrize("change, message", [
    ({"points": 0}, "points must be a positive whole number"),
    ({"points": -2}, "points must be a positive whole number"),
    ({"points": "4"}, "points must be a positive whole number"),
    ({"points": 2.5}, "points must be a positive whole number"),
    ({"minutes": True}, "minutes must be a positive whole number"),
    ({"minutes": 0}, "minutes must be a positive whole number"),
    ({"label": ""}, "label must be a non-empty string"),
    ({"label": "xx ex"}, "label must have no white space"),
    ({"label": 3}, "label must be a non-empty string"),
    ({"sheet": "Problem two"}, "sheet must be"),
    ({"sheet": "1 a"}, "sheet must be"),
    ({"sheet": None}, "sheet must be a string"),
    ({"extra": 1}, r"unknown key\(s\) \['extra'\]"),
])
def test_a_bad_table_is_refused_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        chapters.parse_exercises([{**GOOD, **change}], "x/chapter.toml")


def test_a_missing_key_and_a_repeated_label_are_refused():
    spec = dict(GOOD)
    del spec["minutes"]
    with pytest.raises(ValueError, match=r"table 1: missing key\(s\) \['minutes'\]"):
        chapters.parse_exercises([spec])
    with pytest.raises(ValueError, match="'xx-ex-a': the label is used by two tables"):
        chapters.parse_exercises([GOOD, {**GOOD, "points": 5}])
    with pytest.raises(ValueError, match=r"must be \[\[exercises\]\] tables"):
        chapters.parse_exercises({"label": "x"})


def test_good_tables_parse():
    parsed = chapters.parse_exercises([GOOD, {**GOOD, "label": "xx-ex-b", "sheet": ""}])
    assert parsed == (chapters.Exercise("xx-ex-a", "Problem 2 b.iii", 3, 20), chapters.Exercise("xx-ex-b", "", 3, 20))
    for sheet in ("Problem 4", "Problem 2 b", "Problem 1 b.ii", "Problem 12 c"):
        assert chapters.parse_exercises([{**GOOD, "sheet": sheet}])[0].sheet == sheet


DESCRIPTOR = """number = {number}
notebook = "0{number}_x{number}"
title = "X"
glue_prefix = "x{number}_"
budget_seconds = 60
{tables}"""


def _table(label, points=2):
    return f'\n[[exercises]]\nlabel = "{label}"\nsheet = ""\npoints = {points}\nminutes = 10\n'


def test_descriptors_in_a_package(tmp_path, monkeypatch):
    for number, tables in [(1, _table("a-1") + _table("a-2", 4)), (2, "")]:
        (tmp_path / f"slug{number}").mkdir()
        (tmp_path / f"slug{number}" / "chapter.toml").write_text(DESCRIPTOR.format(number=number, tables=tables))
    monkeypatch.setattr(chapters, "PACKAGE_DIR", tmp_path)
    first, second = chapters.chapters()
    assert [e.label for e in first.exercises] == ["a-1", "a-2"] and second.exercises == ()
    assert first.exercise("a-2").points == 4
    with pytest.raises(KeyError, match="no \\[\\[exercises\\]\\] table with label = 'a-3'"):
        first.exercise("a-3")
    (tmp_path / "slug2" / "chapter.toml").write_text(DESCRIPTOR.format(number=2, tables=_table("a-1")))
    with pytest.raises(ValueError, match="'a-1' is in the \\[\\[exercises\\]\\] of both slug1 and slug2"):
        chapters.chapters()
    (tmp_path / "slug2" / "chapter.toml").write_text(DESCRIPTOR.format(number=2, tables=_table("b-1", 0)))
    with pytest.raises(ValueError, match=r"slug2/chapter.toml, \[\[exercises\]\] 'b-1': points must be"):
        chapters.chapters()


def test_every_descriptor_in_the_repository_is_valid():
    for path in sorted((ROOT / "src" / "hbm").glob("*/chapter.toml")):
        chapter = chapters.read_chapter(path)
        with path.open("rb") as f:
            assert len(chapter.exercises) == len(tomllib.load(f).get("exercises", [])), path


# --- Problem 4: the coursework descriptor and its template --------------------------------------------

def test_the_project_descriptor():
    project, = chapters.projects()
    assert project.sheet == "Problem 4" and project.minutes > 0
    assert project.points == sum(c.points for c in project.rubric) > 0
    assert len({c.criterion for c in project.rubric}) == len(project.rubric)
    assert (ROOT / "book" / f"{project.notebook}.ipynb").is_file()
    assert chapters.project(project.notebook) is not None
    with pytest.raises(KeyError):
        chapters.project("no_such_notebook")


@pytest.mark.parametrize("change, message", [
    ({"rubric": []}, "rubric must be one or more"),
    ({"minutes": 0}, "minutes must be a positive whole number"),
    ({"sheet": "Problem four"}, "sheet must be"),
    ({"rubric": [{"criterion": "Data", "points": 0, "description": "d"}]}, "rubric line 1: points"),
    ({"rubric": [{"criterion": "Data", "points": 2}]}, r"missing key\(s\) \['description'\]"),
])
def test_a_bad_project_is_refused(change, message):
    good = {"notebook": "nb", "title": "T", "sheet": "Problem 4", "minutes": 60,
            "rubric": [{"criterion": "Data", "points": 2, "description": "d"}]}
    assert chapters.parse_projects({"projects": [good]})[0].points == 2
    with pytest.raises(ValueError, match=message):
        chapters.parse_projects({"projects": [{**good, **change}]})
    with pytest.raises(ValueError, match="two projects use this notebook"):
        chapters.parse_projects({"projects": [good, good]})


def test_the_template_is_in_the_coursework_part_of_the_toc():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parts = {part["caption"]: part for part in toc["parts"]}
    files = [entry["file"] for entry in parts["Coursework"]["chapters"]]
    assert files == [f"book/{p.notebook}" for p in chapters.projects()]
    assert not parts["Coursework"].get("numbered"), "an unnumbered part: the chapters keep their numbers"
    captions = list(parts)
    assert captions.index("Worked problems") < captions.index("Coursework") < captions.index("Back matter")


def _template():
    return nbformat.read(TEMPLATE, as_version=4)


def _cell(nb, cell_id):
    return next(c for c in nb.cells if c.get("id") == cell_id)


def test_the_template_is_committed_clean_and_short():
    nb = _template()
    nbformat.validate(nb)
    for cell in nb.cells:
        assert "solution" not in cell.metadata.get("tags", []), "the template has no solutions"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id
            assert all(len(line) <= 100 for line in cell.source.splitlines()), cell.id
            assert "glue(" not in cell.source, "the template quotes no numbers: they depend on the data"
    assert student.exercises(nb, None, TEMPLATE.name) == [], "no exercise directives: nothing to stub"


def test_every_sampling_call_passes_a_seed_and_every_fit_is_asserted():
    code = "\n".join(c.source for c in _template().cells if c.cell_type == "code")
    calls = re.findall(r"(?:hbm\.sampling\.sample|pm\.sample_prior_predictive|default_rng)\(([^\n]*)", code)
    assert len(calls) >= 4
    assert all("seed" in args for args in calls), calls
    fits = re.findall(r"(\w+) = hbm\.sampling\.sample\(", code)
    assert fits == ["idata_pooled", "idata", "idata_heavy"]
    for name in fits:
        assert f"hbm.sampling.check_convergence({name}, strict=True)" in code, name
    for step in ("pm.model_to_graphviz(", "hbm.data.validate(", "sample_prior_predictive("):
        assert step in code, step


def test_the_template_has_one_loading_cell_to_replace():
    nb = _template()
    load = _cell(nb, "own-data-load")
    assigned = set(re.findall(r"^(\w+) =", load.source, flags=re.M))
    assert assigned == {"raw", "GROUP", "OUTCOME", "OUTCOME_LABEL"}
    later = "\n".join(c.source for c in nb.cells[nb.cells.index(load) + 1:] if c.cell_type == "code")
    assert "hbm.data.load(" not in later, "only the loading cell reads the placeholder data"
    intro = _cell(nb, "own-data-intro").source
    for word in ("group column", "outcome column", "GROUP", "OUTCOME"):
        assert word in intro, word


def _validate(raw, group="g", outcome="y"):
    """Run the template's validation cell on a table; return its namespace."""
    space = {"hbm": hbm, "np": np, "pd": pd, "raw": raw, "GROUP": group, "OUTCOME": outcome}
    exec(_cell(_template(), "own-data-validate").source, space)
    return space


def test_the_validation_cell_accepts_any_group_and_outcome_columns():
    raw = pd.DataFrame({"field": ["north", "south", "north", "east", "east"], "kg": [1.0, 2, 3, 4, 6],
                        "ignored": list("abcde")})
    space = _validate(raw, "field", "kg")
    assert list(space["group_names"]) == ["north", "south", "east"]
    assert space["group_idx"].tolist() == [0, 1, 0, 2, 2]
    assert space["groups"]["rows"].tolist() == [2, 1, 2]
    assert space["groups"]["mean"].tolist() == [2.0, 2.0, 5.0]
    assert abs(space["y_std"].mean()) < 1e-12 and abs(space["y_std"].std() - 1) < 1e-12
    assert space["coords"]["group"] == ["north", "south", "east"]
    numbers = _validate(pd.DataFrame({"g": [3, 1, 3], "y": [0.5, 1.5, 2.5]}))  # numeric labels
    assert list(numbers["group_names"]) == ["3", "1"]


@pytest.mark.parametrize("raw, group, outcome, message", [
    (pd.DataFrame({"g": ["a", "b"], "y": [1.0, np.nan]}), "g", "y", r"your data set: column 'y', row 2"),
    (pd.DataFrame({"g": ["a", "b"], "y": ["1", "one"]}), "g", "y", r"column 'y', row 2"),
    (pd.DataFrame({"g": ["a", ""], "y": [1.0, 2.0]}), "g", "y", r"column 'g', row 2"),
    (pd.DataFrame({"g": ["a", "b"], "y": [1.0, 2.0]}), "group", "y", r"missing column\(s\) \['group'\]"),
    (pd.DataFrame({"g": ["a", "a"], "y": [1.0, 2.0]}), "g", "y", "needs at least two"),
    (pd.DataFrame({"g": ["a", "b"], "y": [1.0, 1.0]}), "g", "y", "takes a single value"),
])
def test_the_validation_cell_stops_bad_data_with_a_clear_error(raw, group, outcome, message):
    with pytest.raises(ValueError, match=message):
        _validate(raw, group, outcome)


# --- the instructors page -----------------------------------------------------------------------------

def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_every_glued_key_of_a_page_is_glued_by_its_code():
    for path in (INSTRUCTORS, TEMPLATE):
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        for key in set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", _markdown(nb))):
            assert f'hbm.glue("{key}"' in code, f"{path.name}: {key} is quoted but never glued"


def test_the_instructors_page_warns_and_maps():
    nb = nbformat.read(INSTRUCTORS, as_version=4)
    text = " ".join(_markdown(nb).split())
    warning = next(c.source for c in nb.cells if c.cell_type == "markdown" and ":class: warning" in c.source
                   and "publish" in c.source.lower())
    assert "make book-without-solutions" in warning and "make student" in warning
    assert "Suggested grading" not in text and "2 points per self-check" not in text
    for phrase in ("The mapping follows the sheet's structure", "beyond the sheet", "Problem 4"):
        assert phrase in text, phrase
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for name in ("chapters.exercises()", "chapters.projects()", "m.points", "m.minutes", "m.sheet"):
        assert name in code, name
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and all(len(line) <= 100 for line in cell.source.splitlines())


# --- the template in the student edition ----------------------------------------------------------------

def test_the_templates_given_cells_read_only_what_they_define():
    """Every cell of the template is given: the edition's static name check finds nothing in it."""
    assert student.scan(_template(), None, TEMPLATE.name).problems == []


def test_the_student_edition_holds_the_template_as_it_is(student_book_edition):
    edition, _ = student_book_edition  # the book's whole edition, exported once per run (conftest.py)
    exported = nbformat.read(edition / TEMPLATE.name, as_version=4)
    given = [c.source for c in _template().cells if c.cell_type == "code"]
    assert [c.source for c in exported.cells if c.cell_type == "code"] == given
    assert TEMPLATE.name in (edition / "README.md").read_text()
