"""Execution times of the forced build, read from ``_build/exec_report.json`` (written by hbm_book.build_report).

Timing is a report (``make timings`` prints each notebook's time beside its ``budget_seconds`` from
``chapter.toml``): these tests fail only on a runaway, a notebook that ran more than
``hbm_book.timings.RUNAWAY`` (3) times its budget, never because a machine is slower or busier than
the reference machine. There is no whole-build time limit.
"""

from __future__ import annotations

import pytest
from book_site import BUILD

from hbm_book import timings


@pytest.fixture(scope="module")
def report(build_dir):
    path = BUILD / "exec_report.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: the build did not load the hbm_book.build_report extension")
    return timings.load_report(path)


def test_report_is_from_a_forced_build(report):
    assert report["build"]["execution_mode"] == "force", "run the runaway test after a forced build (make test)"
    not_run = [c for c in timings.budgets() if not report["notebooks"].get(f"book/{c}", {}).get("executed_in_this_build")]
    assert not not_run, f"chapters not executed in the last build: {not_run}"


def test_the_report_records_the_budgets(report):
    for docname, data in report["notebooks"].items():
        assert data["budget_seconds"] == timings.budget(docname), docname


@pytest.mark.parametrize("chapter", list(timings.budgets()))
def test_chapter_is_no_runaway(report, chapter):
    data = report["notebooks"].get(f"book/{chapter}")
    assert data is not None, f"{chapter} is not in the build report"
    assert data["succeeded"], f"{chapter} failed to execute"
    limit = timings.RUNAWAY * timings.budget(chapter)
    assert data["runtime"] <= limit, (
        f"{chapter} executed in {data['runtime']:.0f} s, more than {timings.RUNAWAY} times its budget of "
        f"{timings.budget(chapter):.0f} s (load average then: {report['build']['machine']['load_average']})")


def test_other_notebooks_are_no_runaways(report):
    limit = timings.RUNAWAY * timings.OTHER_NOTEBOOK_BUDGET
    over = {d: v["runtime"] for d, v in report["notebooks"].items()
            if timings.stem(d) not in timings.budgets() and (v["runtime"] or 0) > limit}
    assert not over, f"pages over {limit} s ({timings.RUNAWAY} times their {timings.OTHER_NOTEBOOK_BUDGET} s budget): {over}"
