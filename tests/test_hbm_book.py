"""Unit tests of the build tooling (hbm_book): budgets, the timings table, key-number comparison, HTML fixes."""

from __future__ import annotations

import copy
import json

import pytest

from hbm_book import html_fixes, keynumbers, timings


def make_report(mode="force", seconds=600.0, executed=True, **runtimes):
    notebooks = {f"book/{c}": {"runtime": runtimes.get(c, 60.0), "method": mode, "succeeded": True,
                               "executed_in_this_build": executed, "executed_at": None}
                 for c in timings.BUDGETS}
    return {"build": {"seconds": seconds, "started": "2026-01-01T00:00:00+00:00", "execution_mode": mode,
                      "documents_read": 7, "outdir": "_build/html",
                      "machine": {"cpu": "test cpu", "cores": 2, "load_average": [1.0, 1.0, 1.0]}},
            "notebooks": notebooks}


def test_budgets_are_the_chapter_issues():
    assert timings.BUDGETS == {"01_eight_schools": 180, "02_five_districts": 180, "03_dyson_spheres": 240,
                               "04_cepheids": 240, "05_school_rankings": 360}
    assert timings.BOOK_BUDGET == 720


def test_a_good_forced_build_has_no_problems():
    assert timings.problems(make_report()) == []


def test_a_chapter_over_budget_is_named():
    found = timings.problems(make_report(**{"04_cepheids": 241.0}))
    assert found == ["04_cepheids: executed in 241 s, over its budget of 240 s"]


def test_a_slow_whole_build_fails():
    assert any("whole build took 721 s" in p for p in timings.problems(make_report(seconds=721)))


def test_a_cached_build_is_not_a_cold_time():
    found = timings.problems(make_report(mode="cache", executed=False))
    assert any("not a forced build" in p for p in found)
    assert sum("not executed in the last build" in p for p in found) == len(timings.BUDGETS)
    with pytest.raises(ValueError, match="cannot be recorded"):
        timings.chapter_times(make_report(mode="cache", executed=False))


def test_failed_and_missing_chapters_are_problems():
    report = make_report()
    report["notebooks"]["book/01_eight_schools"]["succeeded"] = False
    del report["notebooks"]["book/05_school_rankings"]
    found = timings.problems(report)
    assert "01_eight_schools: execution failed (force)" in found
    assert any(p.startswith("05_school_rankings: not in the build report") for p in found)


def test_table_and_record(tmp_path):
    report = make_report(**{"03_dyson_spheres": 250.0})
    text = timings.table(report)
    assert "03_dyson_spheres" in text and "OVER" in text and "whole build (wall)" in text
    record = timings.chapter_times(report)
    assert record["03_dyson_spheres"] == 250.0 and record["build_seconds"] == 600.0
    path = tmp_path / "exec_report.json"
    path.write_text(json.dumps(report))
    out = tmp_path / "chapter_times.json"
    assert timings.main(["--report", str(path), "--record", str(out)]) == 0
    assert json.loads(out.read_text())["01_eight_schools"] == 60.0
    assert timings.main(["--report", str(tmp_path / "missing.json")]) == 1


def test_merge_single_chapter_builds(tmp_path):
    paths = []
    for k, chapter in enumerate(timings.BUDGETS):
        report = make_report(**{chapter: 100.0 + k})
        report["notebooks"] = {f"book/{chapter}": report["notebooks"][f"book/{chapter}"]}
        paths.append(tmp_path / f"{chapter}.json")
        paths[-1].write_text(json.dumps(report))
    merged = timings.merge_chapter_reports([str(p) for p in paths])
    assert merged["build"]["seconds"] == sum(100.0 + k for k in range(5))
    record = timings.chapter_times(merged)
    assert record["05_school_rankings"] == 104.0 and record["build_seconds"] is None and "source" in record
    assert "sum of chapter builds" in timings.table(merged)
    with pytest.raises(ValueError, match="no forced"):
        timings.merge_chapter_reports([])


def test_keynumbers_identical_and_different():
    a = {"es_mean": 4.123456789, "es_n": 8, "es_label": "tau", "es_nan": float("nan")}
    assert keynumbers.differences(a, copy.deepcopy(a)) == []
    assert keynumbers.differences(a, {**a, "es_mean": 4.123456789 * (1 + 1e-12)}) == []
    b = {**a, "es_mean": 4.1235, "es_n": 9, "fd_new": 1.0}
    del b["es_label"]
    found = keynumbers.differences(a, b)
    assert "es_label: missing (expected 'tau')" in found
    assert "fd_new: new key (value 1.0)" in found
    assert "es_mean: expected 4.123456789, got 4.1235" in found
    assert "es_n: expected 8, got 9" in found
    assert keynumbers.differences({"x": 1.0}, {"x": "1.0"}) == ["x: expected 1.0, got '1.0'"]


def test_timing_keys_are_left_out():
    assert keynumbers.is_timing("es_chapter_seconds") and keynumbers.is_timing("ls_sweep_vec_ms")
    assert keynumbers.is_timing("ls_nuts_ess_per_s") and keynumbers.is_timing("ls_speed_ratio")
    assert keynumbers.is_timing("ins_total_minutes")
    assert not keynumbers.is_timing("es_pooled_mean") and not keynumbers.is_timing("ls_n_schools")
    assert keynumbers.differences({"a_seconds": 1.0, "m": 2.0}, {"a_seconds": 9.0, "m": 2.0}) == []
    assert keynumbers.differences({"a_seconds": 1.0}, {}) == []


def test_keynumbers_cli(tmp_path):
    summary = tmp_path / "key_numbers.json"
    summary.write_text(json.dumps({"es_mean": 1.5}))
    reference = tmp_path / "reference.json"
    assert keynumbers.main(["record", str(summary), str(reference)]) == 0
    assert json.loads(reference.read_text())["numbers"] == {"es_mean": 1.5}
    assert keynumbers.main(["compare", str(reference), str(summary)]) == 0
    summary.write_text(json.dumps({"es_mean": 1.6}))
    assert keynumbers.main(["compare", str(reference), str(summary)]) == 1
    assert keynumbers.environment_changes(json.loads(reference.read_text())) == []


class Script:
    def __init__(self, filename, priority=500, **attributes):
        self.filename, self.priority, self.attributes = filename, priority, attributes


def test_html_fixes_drop_duplicate_scripts_and_set_a_theme_mode():
    body = Script(None, body="const THEBE_JS_URL = 1")
    scripts = [Script("_static/a.js"), body, Script("", body="const THEBE_JS_URL = 1"), Script("_static/b.js")]
    context = {"script_files": scripts, "default_mode": ""}
    html_fixes._fix_page(None, "page", "page.html", context, None)
    assert [s.filename for s in context["script_files"]] == ["_static/a.js", None, "_static/b.js"]
    assert context["default_mode"] == "auto"
    context = {"script_files": scripts[:1], "default_mode": "dark"}
    html_fixes._fix_page(None, "page", "page.html", context, None)
    assert context["default_mode"] == "dark" and len(context["script_files"]) == 1


def _run(wall, sampling, ess, posterior):
    return {"model": "m", "wall_seconds": wall, "sampling_seconds": sampling,
            "compile_and_setup_seconds": wall - sampling, "min_ess_bulk": ess, "ess_per_second": ess / sampling,
            "ess_per_wall_second": ess / wall, "max_r_hat": 1.0, "divergences": 0, "n_free_parameters": 2,
            "posterior": posterior}


def test_sampler_table_verdicts_and_agreement(tmp_path):
    from hbm_book import samplers

    record = {"chapters": {
        "01_a": {"pymc": _run(10.0, 5.0, 2000.0, {"x": [1.0, 0.1]}), "nutpie": _run(12.0, 1.0, 2000.0, {"x": [1.3, 0.0]})},
        "05_b": {"pymc": _run(100.0, 95.0, 1000.0, {"x": [0.0, 0.1]}), "nutpie": _run(20.0, 5.0, 1000.0, {"x": [0.1, 0.1]})},
        "03_c": {"pymc": {"error": "ImportError: no builder"}, "nutpie": {"error": "ImportError: no builder"}},
    }}
    table = samplers.table(record)
    assert len(table) == 4 and table.loc[("05_b", "nutpie (numba)"), "wall (s)"] == 20.0
    assert samplers.not_measured(record) == {"03_c / pymc": "ImportError: no builder",
                                             "03_c / nutpie": "ImportError: no builder"}
    notebook = {"cells": [{"cell_type": "code", "source": ["idata = sample(m, random_seed=1, nuts_sampler='nutpie')"]}]}
    assert samplers.NUTPIE_CALL.search('KW = {"draws": 500, "nuts_sampler": "nutpie"}')
    assert not samplers.NUTPIE_CALL.search('nuts_sampler="pymc"')
    (tmp_path / "05_b.ipynb").write_text(json.dumps(notebook))
    (tmp_path / "01_a.ipynb").write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": ["nuts_sampler='nutpie'"]}]}))
    verdict = samplers.verdicts(record, book_dir=tmp_path)
    assert verdict.loc["01_a", "faster end to end"] == "PyMC NUTS"
    assert verdict.loc["05_b", "faster end to end"] == "nutpie (numba)"
    assert verdict.loc["05_b", "wall ratio PyMC / nutpie"] == 5.0
    assert verdict.loc["05_b", "chapter uses"] == "nutpie (numba)" and verdict.loc["01_a", "chapter uses"] == "PyMC NUTS"
    record["chapters"]["05_b"]["pymc"] = {"error": "timed out after 900 s"}
    verdict = samplers.verdicts(record)
    assert verdict.loc["05_b", "faster end to end"] == "nutpie (numba)"
    assert verdict.loc["05_b", "wall ratio PyMC / nutpie"] == "> 45.0"
    record["chapters"]["05_b"]["pymc"] = _run(100.0, 95.0, 1000.0, {"x": [0.0, 0.1]})
    agreement = samplers.agreement(record)
    assert agreement["01_a"] == pytest.approx(3.0) and agreement["05_b"] == pytest.approx(0.1 / 0.1 / 2 ** 0.5)
    assert samplers.unconverged(record) == []
    record["chapters"]["01_a"]["pymc"]["max_r_hat"] = 1.05
    assert samplers.unconverged(record) == ["01_a / pymc"] and "01_a" not in samplers.agreement(record)
