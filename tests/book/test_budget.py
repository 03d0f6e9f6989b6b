"""Time budgets of the forced build, read from ``_build/exec_report.json`` (written by hbm_book.build_report)."""

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
    assert report["build"]["execution_mode"] == "force", "run the budget test after a forced build (make test)"
    not_run = [c for c in timings.BUDGETS if not report["notebooks"].get(f"book/{c}", {}).get("executed_in_this_build")]
    assert not not_run, f"chapters not executed in the last build: {not_run}"


@pytest.mark.parametrize("chapter", list(timings.BUDGETS))
def test_chapter_within_budget(report, chapter):
    data = report["notebooks"].get(f"book/{chapter}")
    assert data is not None, f"{chapter} is not in the build report"
    assert data["succeeded"], f"{chapter} failed to execute"
    assert data["runtime"] <= timings.BUDGETS[chapter], (
        f"{chapter} executed in {data['runtime']:.0f} s, over its budget of {timings.BUDGETS[chapter]} s "
        f"(load average then: {report['build']['machine']['load_average']})")


def test_other_notebooks_within_budget(report):
    over = {d: v["runtime"] for d, v in report["notebooks"].items()
            if timings.stem(d) not in timings.BUDGETS and (v["runtime"] or 0) > timings.OTHER_NOTEBOOK_BUDGET}
    assert not over, f"pages over their {timings.OTHER_NOTEBOOK_BUDGET} s budget: {over}"


def test_whole_cold_build_within_budget(report):
    seconds = report["build"]["seconds"]
    assert seconds <= timings.BOOK_BUDGET, (
        f"the forced build took {seconds:.0f} s, over the {timings.BOOK_BUDGET} s budget")
