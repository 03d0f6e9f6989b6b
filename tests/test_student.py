"""The student edition: solutions never leak, every exercise ends with its self-check, and it runs.

Every test runs on a small synthetic chapter (so the export logic is tested
whatever state the book is in) and on the book's own chapters (``hbm.chapters``,
numbered by ``_toc.yml``).
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from hbm_book import student

ROOT = student.ROOT
SECRET_OUTPUT = "the secret mean is 2.0000417"


def synthetic_notebook():
    """A chapter with every form the coursework pattern uses, and outputs as if it had been run."""
    sol = {"tags": ["solution"]}
    secret_code = new_code_cell(
        "mean_x = sum(x) / len(x)  # pooled answer\nprint('the secret mean is', mean_x + 0.0000417)",
        metadata={**sol, "mystnb": {"figure": {"caption": "Caption that gives the answer away"}}},
        outputs=[new_output("stream", name="stdout", text=SECRET_OUTPUT + "\n")],
        execution_count=3,
    )
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Synthetic chapter\n\nLoad the data and answer {ref}`syn-ex-mean` {cite:p}`rubin1981`; "
                              "the mean is {glue:text}`syn_mean:.2f`.\n\n```{note}\nA note.\n```"),
            new_code_cell("import hbm\nimport hbm.data\nx = [1.0, 2.0, 3.0]", execution_count=1,
                          outputs=[new_output("execute_result", data={"text/plain": "given output"}, execution_count=1)]),
            new_markdown_cell("## Means\n\n```{exercise} Mean of the data\n:label: syn-ex-mean\n\nCompute the **mean** of `x` as `mean_x`.\n```"),
            new_markdown_cell("```{solution-start} syn-ex-mean\n:class: dropdown\n```"),
            secret_code,
            new_code_cell("spare_variable_for_merging = mean_x * 1.5", metadata=sol),
            new_markdown_cell("The mean sits at the zebra-unicorn point of the data.", metadata=sol),
            new_markdown_cell("```{solution-end}\n```"),
            new_code_cell("hbm.checks.check_close('mean', mean_x, 2.0, atol=0.01, what='mean')"),
            new_markdown_cell(":::{exercise} Spread\n:label: syn-ex-spread\n:class: note\n\nCompute `spread_x`; reuse {ref}`syn-ex-mean` "
                              "and {ref}`the data <syn-ex-mean>`.\n:::"),
            new_markdown_cell("````{solution-start} syn-ex-spread\n:class: dropdown\n````"),
            new_code_cell("spread_x = max(x) - min(x)  # range of the sample", metadata=sol),
            new_markdown_cell("````{solution-end}\n````"),
            new_code_cell("result = hbm.checks.check_close('spread', spread_x, 2.0, atol=0.01, what='spread')\nresult"),
            new_markdown_cell("```{exercise} Why?\n:label: syn-ex-why\n\nWhy does the mean differ from the median?\n```"),
            new_markdown_cell("```{solution} syn-ex-why\n:class: dropdown\n\nBecause of the hippopotamus-shaped outlier.\n```"),
            new_code_cell("hbm.checks.check_close('why', 1.0, 1.0, atol=0.1)"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A synthetic chapter 3 exported into a student edition: (source notebooks, export folder, exercises)."""
    book = tmp_path_factory.mktemp("book")
    path = book / "03_synthetic.ipynb"
    nbformat.write(synthetic_notebook(), path)
    out = tmp_path_factory.mktemp("student_synthetic") / "student"
    found = student.export(out, notebooks=[(path, 3)])
    return [(path, 3)], out, found


@pytest.fixture(scope="module")
def book_edition(tmp_path_factory):
    """The book's own chapters exported into a student edition."""
    out = tmp_path_factory.mktemp("student_book") / "student"
    found = student.export(out)
    return student.book_chapters(ROOT), out, found


EDITIONS = ["synthetic", "book_edition"]


def _nontrivial(line: str) -> bool:
    """Lines worth searching for: real content, not fences, brackets or a bare keyword."""
    line = line.strip()
    return len(line) >= 10 and re.search(r"[A-Za-z].*[A-Za-z]", line) is not None and not line.startswith(("```", ":::"))


def _strings(value) -> list[str]:
    """Every string inside a (nested) JSON-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _solution_and_given_lines(chapters):
    """Lines of the solutions (sources, outputs, metadata, {solution} bodies) and lines given to students."""
    secret, given = set(), set()
    for path, _ in chapters:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if student.SOLUTION_TAG in cell.metadata.get("tags", []):
                texts = [cell.source] + _strings(cell.get("outputs", [])) + _strings(dict(cell.metadata))
                secret.update(line.strip() for t in texts for line in t.splitlines() if _nontrivial(line))
                continue
            body_lines = set()
            for d in student._directives(cell.source) if cell.cell_type == "markdown" else []:
                if d.name == "solution":
                    body_lines.update(line.strip() for line in d.body.splitlines() if _nontrivial(line))
            secret.update(body_lines)
            given.update(line.strip() for line in cell.source.splitlines() if line.strip() not in body_lines)
    return secret, given


def _copied_verbatim_lines():
    """Lines of the repository files the edition copies unchanged (the hbm package and data)."""
    lines = set()
    for folder in (ROOT / "src" / "hbm", ROOT / "data"):
        for f in folder.rglob("*"):
            if f.is_file() and f.suffix in {".py", ".md", ".csv", ".json", ".tsv"}:
                lines.update(line.strip() for line in f.read_text(errors="ignore").splitlines())
    return lines


def _leaks(chapters, out: Path) -> list[tuple[str, str]]:
    secret, given = _solution_and_given_lines(chapters)
    searched = secret - given - _copied_verbatim_lines()
    found = []
    for f in out.rglob("*"):
        if f.is_file():
            text = f.read_text(errors="ignore")
            if f.suffix == ".ipynb":  # search the decoded cell text too, not only its JSON encoding
                text += "\n".join(c.source for c in nbformat.read(f, as_version=4).cells)
            lines = {line.strip() for line in text.splitlines()}
            # a solution line leaks if a line of the file is that line, or (long enough not to occur by
            # chance inside other code) if it is anywhere in the file
            found += [(str(f.relative_to(out)), s) for s in searched if s in lines or (len(s) >= 25 and s in text)]
    return found


@pytest.mark.parametrize("edition", EDITIONS)
def test_no_solution_source_output_or_text_survives(edition, request):
    chapters, out, _ = request.getfixturevalue(edition)
    assert _leaks(chapters, out) == []
    for path, _ in chapters:
        nb = nbformat.read(out / path.name, as_version=4)
        for cell in nb.cells:
            assert student.SOLUTION_TAG not in cell.metadata.get("tags", [])
            assert "mystnb" not in cell.metadata
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
            assert not re.search(r"\{(solution|solution-start|solution-end|exercise)\}", cell.source)


def test_the_leak_search_finds_a_leak(synthetic, tmp_path):
    """The search above can fail: a copy of the source chapter in the edition is caught, output included."""
    chapters, out, _ = synthetic
    leaky = tmp_path / "leaky"
    shutil.copytree(out, leaky)
    shutil.copy(chapters[0][0], leaky / "copied_by_mistake.ipynb")
    lines = {line for _, line in _leaks(chapters, leaky)}
    assert SECRET_OUTPUT in lines
    assert "The mean sits at the zebra-unicorn point of the data." in lines
    assert "Because of the hippopotamus-shaped outlier." in lines
    assert "spread_x = max(x) - min(x)  # range of the sample" in lines


def test_synthetic_chapter_becomes_plain_markdown_with_stubs(synthetic):
    chapters, out, found = synthetic
    nb = nbformat.read(out / chapters[0][0].name, as_version=4)
    sources = [c.source for c in nb.cells]
    assert sources[0] == ("# Synthetic chapter\n\n" + student.mathjax_macros() + "\n\nLoad the data and answer Exercise 3.1 "
                          "(Rubin 1981); the mean is `syn_mean`.\n\n> **Note**\n>\n> A note.")
    assert student.mathjax_macros().startswith("$\\newcommand{\\N}")
    assert sources[2] == "## Means\n\n**Exercise 3.1 — Mean of the data**\n\nCompute the **mean** of `x` as `mean_x`."
    # two adjacent solution code cells become one stub; the markdown answer becomes a prompt
    assert sources[3:5] == [student.CODE_STUB, student.MARKDOWN_STUB]
    assert sources[5].startswith("hbm.checks.check_close('mean', mean_x")
    assert sources[6].startswith("**Exercise 3.2 — Spread**\n\nCompute `spread_x`; reuse Exercise 3.1 and the data.")
    assert sources[7] == student.CODE_STUB
    assert sources[9] == "**Exercise 3.3 — Why?**\n\nWhy does the mean differ from the median?"
    assert sources[10] == student.MARKDOWN_STUB
    assert len(nb.cells) == 12
    assert [(e.number, e.label, e.title, e.checks, e.code_answers, e.written_answers) for e in found] == [
        ("3.1", "syn-ex-mean", "Mean of the data", ["check_close"], 1, 1),
        ("3.2", "syn-ex-spread", "Spread", ["check_close"], 1, 0),
        ("3.3", "syn-ex-why", "Why?", ["check_close"], 0, 1),
    ]
    assert (out / "data" / "eight_schools.csv").read_text() == (ROOT / "data" / "eight_schools.csv").read_text()
    # the whole hbm package, and nothing of the build tooling
    copied = {p.relative_to(out / "src" / "hbm") for p in (out / "src" / "hbm").rglob("*.py")}
    assert copied == {p.relative_to(ROOT / "src" / "hbm") for p in (ROOT / "src" / "hbm").rglob("*.py")}
    assert (out / "src" / "hbm" / "checks.py").is_file() and not (out / "src" / "hbm_book").exists()
    assert not list(out.rglob("student.py"))


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_exercise_ends_with_its_self_check(edition, request):
    chapters, out, found = request.getfixturevalue(edition)
    for path, _ in chapters:
        nb = nbformat.read(out / path.name, as_version=4)
        heads = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and re.search(r"^\*\*Exercise [\d.]+", c.source, re.M)]
        expected = [e for e in found if e.notebook == path.name]
        assert len(heads) == len(expected)
        for ex, start, stop in zip(expected, heads, heads[1:] + [len(nb.cells)]):
            assert ex.heading in nb.cells[start].source
            segment = nb.cells[start + 1 : stop]
            stubs = [i for i, c in enumerate(segment) if c.source in (student.CODE_STUB, student.MARKDOWN_STUB)]
            assert stubs, f"{path.name}: exercise {ex.number} has no stub"
            calls = [student.CHECK_CALL.findall(c.source) for c in segment[stubs[-1] + 1 :] if c.cell_type == "code"]
            calls = [name for names in calls for name in names]
            assert calls and calls == ex.checks, f"{path.name}: exercise {ex.number} does not end with its self-check"
            assert all(hasattr(student_checks(out), name) for name in calls), calls


def _names(source: str, ctx) -> set[str]:
    """Names a cell's code binds (``ast.Store``, also defs and imports) or reads (``ast.Load``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: nothing to learn from the cell
        return set()
    out = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}
    if ctx is ast.Store:
        out |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        out |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names}
    return out


def _unknown_names(chapters) -> list[str]:
    """Names of a solution that a self-check cell reads but its exercise text never mentions."""
    problems = []
    for path, _ in chapters:
        text, defined, given = None, set(), set()
        for cell in nbformat.read(path, as_version=4).cells:
            solution = student.SOLUTION_TAG in cell.metadata.get("tags", [])
            if cell.cell_type == "markdown" and not solution:
                starts = [d for d in student._directives(cell.source) if d.name in student.EXERCISE_NAMES]
                if starts:
                    text, defined = starts[-1].arg + "\n" + starts[-1].body, set()
                elif text is not None:  # a note between the exercise and its check may name things too
                    text += "\n" + cell.source
            if cell.cell_type != "code":
                continue
            if solution:
                defined |= _names(cell.source, ast.Store)
                continue
            if text is not None and student.CHECK_CALL.search(cell.source):
                needed = (_names(cell.source, ast.Load) & defined) - given - _names(cell.source, ast.Store)
                missing = sorted(n for n in needed if not re.search(rf"\b{re.escape(n)}\b", text))
                if missing:
                    problems.append(f"{path.name}, exercise '{text.splitlines()[0]}': the check cell reads {missing}")
            given |= _names(cell.source, ast.Store)
    return problems


@pytest.mark.parametrize("edition", EDITIONS)
def test_each_self_check_reads_only_names_its_exercise_asks_for(edition, request):
    """A student replaces the solution by their own code, so a self-check cell may only read names of the
    solution that the exercise text (or a note before the check) tells the student to define
    (e.g. "call them `pooled_mean` and `pooled_sd`")."""
    chapters, _, _ = request.getfixturevalue(edition)
    problems = _unknown_names(chapters)
    assert not problems, "names a student cannot know:\n" + "\n".join(problems)


def test_a_check_reading_an_unannounced_name_is_found(tmp_path):
    cells = [EXERCISE, START, new_code_cell("a = 1\nhelper = 2\nname = 'x'", metadata=SOL), END,
             new_code_cell("hbm.checks.check_close('a', a + helper + sum(len(name) for name in 'ab'), 5.0, atol=0.1)")]
    assert _unknown_names(_write(tmp_path, cells)) == ["bad.ipynb, exercise 'E': the check cell reads ['a', 'helper']"]


def student_checks(out: Path):
    """The self-checks of the exported ``hbm`` (the base ``hbm/checks.py`` and every chapter's
    ``hbm/<slug>/checks.py``), read as source: every check a notebook calls must be defined there."""
    names = set()
    for path in (out / "src" / "hbm").rglob("checks.py"):
        names |= set(re.findall(r"^def (\w+)\(", path.read_text(), re.M))
    return type("Checks", (), {name: None for name in names})


def test_requirements_and_package_of_the_edition(synthetic):
    _, out, _ = synthetic
    reqs = (out / "requirements.txt").read_text().splitlines()
    names = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in reqs if r and not r.startswith("#")}
    assert {"pymc", "arviz", "ipykernel", "jupyterlab", "graphviz", "-e"} <= names
    # exactly the project's runtime dependencies, none of the book-building or test tools
    assert [r for r in reqs if r and not r.startswith("#")][:len(student.dependencies())] == student.dependencies()
    assert not names & {"jupyter-book", "sphinx-exercise", "sphinxcontrib-bibtex", "playwright", "pytest", "myst-nb"}
    assert "-e ." in reqs
    import tomllib

    project = tomllib.loads((out / "pyproject.toml").read_text())
    assert project["project"]["dependencies"] == student.dependencies()
    assert project["tool"]["setuptools"]["packages"]["find"]["where"] == ["src"]
    readme = (out / "README.md").read_text()
    assert "03_synthetic.ipynb" in readme and "pip install -r requirements.txt" in readme


async def _run_until_first_stub(path: Path, folder: Path) -> dict:
    """Execute the code cells of a student notebook in order in a fresh kernel, stopping at the first error.

    The kernel starts in the edition's folder with the edition's own ``src/`` first
    on ``PYTHONPATH`` (what ``pip install -e .`` there gives a student); a last
    probe cell reports which ``hbm`` and which ``data/`` folder it used.
    """
    env = {key: value for key, value in os.environ.items() if key != "HBM_QUIET"}
    env.update(PYTHONPATH=str(folder / "src"), PYDEVD_DISABLE_FILE_VALIDATION="1")
    nb = nbformat.read(path, as_version=4)
    probe = new_code_cell("import json, hbm, hbm.data\nprint(json.dumps([hbm.__file__, str(hbm.data.DATA_DIR)]))")
    nb.cells.append(probe)
    client = NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(folder)}})
    result = {"error_cell": None, "error": None, "stub": _first_stub(nb.cells[:-1])}
    async with client.async_setup_kernel(env=env):
        for index, cell in enumerate(nb.cells[:-1]):
            if cell.cell_type != "code":
                continue
            try:
                await client.async_execute_cell(cell, index)
            except CellExecutionError as err:
                result.update(error_cell=index, error=err.ename, message=str(err)[-600:])
                break
        await client.async_execute_cell(probe, len(nb.cells) - 1)
    result["hbm_file"], result["data_dir"] = json.loads(probe.outputs[0]["text"])
    return result


def _first_stub(cells):
    return next((i for i, c in enumerate(cells) if c.cell_type == "code" and c.source == student.CODE_STUB), None)


def test_the_editions_run_up_to_their_first_stub(synthetic, book_edition):
    """Every exported notebook (synthetic and the book's) runs without error up to its first stub,
    which raises NotImplementedError; all kernels run at once to keep this test short."""
    jobs = [(out / path.name, out) for chapters, out, _ in (synthetic, book_edition) for path, _ in chapters]

    async def run_all():
        return await asyncio.gather(*(_run_until_first_stub(path, folder) for path, folder in jobs))

    for (path, folder), result in zip(jobs, asyncio.run(run_all())):
        expected = (result["stub"], "NotImplementedError") if result["stub"] is not None else (None, None)
        assert (result["error_cell"], result["error"]) == expected, f"{path.name}: {result.get('message')}"
        assert Path(result["hbm_file"]).resolve().is_relative_to(folder.resolve()), path.name
        assert Path(result["data_dir"]).resolve() == (folder / "data").resolve(), path.name
    assert len(jobs) == 1 + len(book_edition[0])


def _write(tmp_path, cells):
    nb = new_notebook(cells=cells)
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    return [(path, 1)]


SOL = {"tags": ["solution"]}
EXERCISE = new_markdown_cell("```{exercise} E\n:label: bad-ex\n\nDo it.\n```")
START = new_markdown_cell("```{solution-start} bad-ex\n:class: dropdown\n```")
END = new_markdown_cell("```{solution-end}\n```")
CHECK = new_code_cell("hbm.checks.check_close('a', a, 1.0, atol=0.1)")


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([EXERCISE, START, new_code_cell("a = 1"), END, CHECK], "must be tagged 'solution'"),
        ([EXERCISE, START, new_code_cell("a = 1", metadata=SOL)], "never closed"),
        ([EXERCISE, END, CHECK], "solution-end without solution-start"),
        ([EXERCISE, new_markdown_cell("```{solution-start} bad-ex\n```\nThe answer is 1."), new_code_cell("a = 1", metadata=SOL), END, CHECK],
         "must hold only that directive"),
        ([EXERCISE, CHECK], "no solution blocks"),
        ([new_markdown_cell("```{exercise} E\nnever closed")], "never closed"),
    ],
)
def test_a_chapter_that_breaks_the_pattern_is_refused(cells, message, tmp_path):
    with pytest.raises(ValueError, match=re.escape(message)):
        student.export(tmp_path / "out", notebooks=_write(tmp_path, cells))


def test_an_exercise_without_a_self_check_is_reported(tmp_path):
    chapters = _write(tmp_path, [EXERCISE, START, new_code_cell("a = 1", metadata=SOL), END, new_code_cell("print(a)")])
    [ex] = student.export(tmp_path / "out", notebooks=chapters)
    assert (ex.number, ex.label, ex.checks) == ("1.1", "bad-ex", [])


def test_export_refuses_to_replace_the_repository(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "data", repo / "data")
    with pytest.raises(ValueError, match="refusing"):
        student.export(tmp_path, root=repo, notebooks=_write(tmp_path, [new_markdown_cell("# Empty")]))
    assert (repo / "data" / "eight_schools.csv").is_file()


def test_check_calls_are_found_under_any_chapter_alias():
    cell = ("es.checks.check_pooled_estimate(pooled_mean, pooled_sd)\n"
            "result = fd.checks.check_district_slopes (slopes, pooling='none')\n"
            "hbm.sampling.check_convergence(idata, strict=True)\nmy_checks.check_x(1)\nchecks.helper(2)")
    assert student.CHECK_CALL.findall(cell) == ["check_pooled_estimate", "check_district_slopes"]


def test_chapters_come_from_the_descriptors_numbered_by_the_toc(monkeypatch):
    from hbm import chapters

    real = chapters.chapters()
    found = student.book_chapters(ROOT)
    assert [path.stem for path, _ in found] == [c.notebook for c in real]
    assert [number for _, number in found] == [c.number for c in real]
    wrong = [chapters.Chapter(**{**vars(c), "number": c.number + 1}) if i == 0 else c for i, c in enumerate(real)]
    monkeypatch.setattr(chapters, "chapters", lambda: wrong)
    with pytest.raises(ValueError, match="but _toc.yml makes"):
        student.book_chapters(ROOT)
    monkeypatch.setattr(chapters, "chapters", lambda: real[1:])
    with pytest.raises(ValueError, match="without a chapter.toml"):
        student.book_chapters(ROOT)
