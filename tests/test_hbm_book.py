"""Unit tests of the build tooling (hbm_book): budgets and runaways, the timings table, reading the
glued key numbers back from a build, their statistical comparison, HTML fixes, the sampler tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from hbm import chapters
from hbm_book import html_fixes, keynumbers, summary, timings

BUDGETS = {c.notebook: c.budget_seconds for c in chapters.chapters()}


def make_report(mode="force", seconds=600.0, executed=True, **runtimes):
    notebooks = {f"book/{c}": {"runtime": runtimes.get(c, 60.0), "method": mode, "succeeded": True,
                               "executed_in_this_build": executed, "executed_at": None}
                 for c in BUDGETS}
    return {"build": {"seconds": seconds, "started": "2026-01-01T00:00:00+00:00", "execution_mode": mode,
                      "documents_read": 7, "outdir": "_build/html",
                      "machine": {"cpu": "test cpu", "cores": 2, "load_average": [1.0, 1.0, 1.0]}},
            "notebooks": notebooks}


def test_budgets_come_from_the_chapter_descriptors():
    assert BUDGETS, "no chapter.toml found"
    assert timings.budgets() == BUDGETS
    for c in chapters.chapters():
        assert timings.budget(f"book/{c.notebook}") == c.budget_seconds > 0
    assert timings.budget("book/instructors") == timings.OTHER_NOTEBOOK_BUDGET
    assert not hasattr(timings, "BUDGETS") and not hasattr(timings, "BOOK_BUDGET")


def test_a_good_forced_build_has_no_problems():
    assert timings.problems(make_report()) == []


def test_only_a_runaway_chapter_is_a_problem():
    name, budget = next(iter(BUDGETS.items()))
    slow = make_report(**{name: 2.9 * budget}, seconds=10 * 3600)  # slow machine, long build: a report only
    assert timings.problems(slow) == []
    assert "over" in timings.table(slow)
    found = timings.problems(make_report(**{name: 3 * budget + 1}))
    assert found == [f"{name}: executed in {3 * budget + 1:.0f} s, more than 3 times its budget of "
                     f"{budget:.0f} s (a runaway)"]
    assert "RUNAWAY" in timings.table(make_report(**{name: 3 * budget + 1}))


def test_a_cached_build_is_not_a_cold_time():
    found = timings.problems(make_report(mode="cache", executed=False))
    assert any("not a forced build" in p for p in found)
    assert sum("not executed in the last build" in p for p in found) == len(BUDGETS)
    with pytest.raises(ValueError, match="cannot be recorded"):
        timings.chapter_times(make_report(mode="cache", executed=False))


def test_failed_and_missing_chapters_are_problems():
    first, last = list(BUDGETS)[0], list(BUDGETS)[-1]
    report = make_report()
    report["notebooks"][f"book/{first}"]["succeeded"] = False
    del report["notebooks"][f"book/{last}"]
    found = timings.problems(report)
    assert f"{first}: execution failed (force)" in found
    assert any(p.startswith(f"{last}: not in the build report") for p in found)


def test_table_and_record(tmp_path):
    name = list(BUDGETS)[-1]
    report = make_report(**{name: 250.0})
    text = timings.table(report)
    assert name in text and "whole build (wall)" in text and "budget_seconds" in text
    record = timings.chapter_times(report)
    assert record[name] == 250.0 and record["build_seconds"] == 600.0 and record["budgets"] == BUDGETS
    path = tmp_path / "exec_report.json"
    path.write_text(json.dumps(report))
    out = tmp_path / "chapter_times.json"
    assert timings.main(["--report", str(path), "--record", str(out)]) == 0
    assert json.loads(out.read_text())[list(BUDGETS)[0]] == 60.0
    assert timings.recorded_times(out)[name] == 250.0
    assert timings.main(["--report", str(tmp_path / "missing.json")]) == 1
    assert "source" not in record
    report["build"]["notebooks_at_a_time"] = 2      # make build-force: two notebooks side by side
    assert "2 notebooks at a time" in timings.chapter_times(report)["source"]


def test_merge_single_chapter_builds(tmp_path):
    paths = []
    for k, chapter in enumerate(BUDGETS):
        report = make_report(**{chapter: 100.0 + k})
        report["notebooks"] = {f"book/{chapter}": report["notebooks"][f"book/{chapter}"]}
        paths.append(tmp_path / f"{chapter}.json")
        paths[-1].write_text(json.dumps(report))
    merged = timings.merge_chapter_reports([str(p) for p in paths])
    assert merged["build"]["seconds"] == sum(100.0 + k for k in range(len(BUDGETS)))
    record = timings.chapter_times(merged)
    assert record[list(BUDGETS)[-1]] == 100.0 + len(BUDGETS) - 1 and record["build_seconds"] is None
    assert "source" in record and "sum of chapter builds" in timings.table(merged)
    with pytest.raises(ValueError, match="no forced"):
        timings.merge_chapter_reports([])


# --- reading the glued values back from a build --------------------------------------------------

def _glue_output(name, value, display=False):
    """The output ``myst_nb.glue(name, value, display=display)`` leaves in a notebook."""
    prefix = "" if display else "application/papermill.record/"
    return new_output("display_data", data={prefix + "text/plain": repr(value)},
                      metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})


def _executed_build(tmp_path, glue_json: dict, cell_glue: list):
    """A build folder as myst-nb leaves it: jupyter_execute/book/01_x.ipynb and its .glue.json."""
    folder = tmp_path / "_build" / "jupyter_execute" / "book"
    folder.mkdir(parents=True)
    nb = new_notebook(cells=[new_code_cell("x = 1", outputs=cell_glue + [new_output("stream", text="hi")])])
    nbformat.write(nb, folder / "01_x.ipynb")
    (folder / "01_x.glue.json").write_text(json.dumps(
        {k: {"output_type": "display_data", "data": {"text/plain": repr(v)}, "metadata": {}} for k, v in glue_json.items()}))
    return tmp_path / "_build"


def test_glued_values_are_read_back_exactly(tmp_path):
    third = 1 / 3
    build = _executed_build(tmp_path, {"x_mean": third, "x_mean_mcse": 0.0123, "x_n": 8, "x_label": "tau",
                                       "x_nan": math.nan, "x_flag": True},
                            [_glue_output("x_shown", 2.5, display=True),
                             new_output("display_data", data={"text/plain": "<Figure size 640x480>"},
                                        metadata={"scrapbook": {"name": "x_fig", "mime_prefix": ""}})])
    numbers, notebooks = summary.build_numbers(build)
    assert notebooks == ["book/01_x"]
    assert numbers["x_mean"] == third and type(numbers["x_n"]) is int and numbers["x_label"] == "tau"
    assert math.isnan(numbers["x_nan"]) and numbers["x_flag"] is True and numbers["x_shown"] == 2.5
    assert "x_fig" not in numbers  # not a scalar
    assert summary.glued_value(_glue_output("k", -0.1 + 0.2)) == -0.1 + 0.2


def test_what_hbm_glue_displays_is_read_back(monkeypatch):
    """hbm.glue -> myst_nb.glue -> a display output -> summary.glued_value, without a kernel."""
    import numpy as np
    import myst_nb.ext.glue

    import hbm

    shown = []
    monkeypatch.setattr(myst_nb.ext.glue, "ipy_display",
                        lambda data, raw, metadata: shown.append({"data": data, "metadata": metadata}))
    assert hbm.glue("t_mean", np.float64(1 / 3), mcse=np.float32(0.25)) == 1 / 3
    assert type(hbm.glue("t_n", np.int64(3))) is int
    hbm.glue("t_label", "tau")
    read = {o["metadata"]["scrapbook"]["name"]: summary.glued_value(o) for o in shown}
    assert read == {"t_mean": 1 / 3, "t_mean_mcse": 0.25, "t_n": 3, "t_label": "tau"}
    assert type(read["t_n"]) is int


def test_the_summary_goes_to_hbm_summary_dir(tmp_path, monkeypatch):
    build = _executed_build(tmp_path, {"x_mean": 1.5}, [])
    monkeypatch.delenv(summary.SUMMARY_ENV, raising=False)
    default = summary.write_summary(build, ["book/01_x"])
    assert default == (build / "summary" / "key_numbers.json").resolve()
    monkeypatch.setenv(summary.SUMMARY_ENV, str(tmp_path / "ks"))
    path = summary.write_summary(build, ["book/01_x"])
    data = json.loads(path.read_text())
    assert path == (tmp_path / "ks" / "key_numbers.json").resolve()
    assert data["numbers"] == {"x_mean": 1.5} and data["notebooks"] == ["01_x"]
    assert {"pymc", "numpy", "arviz"} <= set(data["machine"]["versions"]) and data["machine"]["cpu"]
    with pytest.raises(FileNotFoundError, match="executed notebook"):
        summary.write_summary(build, ["book/02_missing"])


def test_a_key_glued_by_two_notebooks_is_an_error(tmp_path):
    build = _executed_build(tmp_path, {"x_mean": 1.5}, [_glue_output("x_mean", 2.5)])
    # the same key in the .glue.json and in the notebook: one notebook, the later value wins
    assert summary.build_numbers(build)[0]["x_mean"] == 2.5
    second = build / "jupyter_execute" / "book" / "02_y.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("", outputs=[_glue_output("x_mean", 9.0)])]), second)
    with pytest.raises(ValueError, match="glued by both"):
        summary.build_numbers(build)


# --- statistical comparison ---------------------------------------------------------------------

PREFIXES = {"es_": "01_eight_schools", "fd_": "02_five_districts"}


def _reference():
    return {"es_mu_mean": 4.40, "es_mu_mean_mcse": 0.05, "es_tau_q975": 11.2, "es_tau_q975_mcse": 0.20,
            "es_pooled_mean": 7.6856, "es_n_schools": 8, "es_label": "tau", "es_centred_div_count": 42,
            "es_sampling_seconds": 12.0, "fd_slope_mean": 0.51, "fd_slope_mean_mcse": 0.004,
            "fd_truth": 0.5}


def test_a_shift_of_ten_mcse_fails_and_one_mcse_passes():
    ref = _reference()
    s = math.hypot(0.05, 0.05)
    one = keynumbers.compare(ref, {**ref, "es_mu_mean": 4.40 + s}, prefixes=PREFIXES)
    assert one.ok and one.largest == ("es_mu_mean", pytest.approx(1.0))
    ten = keynumbers.compare(ref, {**ref, "es_mu_mean": 4.40 - 10 * s}, prefixes=PREFIXES)
    assert not ten.ok and ten.largest == ("es_mu_mean", pytest.approx(10.0))
    assert ten.failures == [f"es_mu_mean: {4.40 - 10 * s!r} differs from the reference 4.4 by 10.0 combined MCSE "
                            f"(MCSE 0.05 and 0.05; limit {ten.z:.2f})"]
    assert "verdict: FAIL" in ten.report() and "largest deviation 10.00 MCSE (es_mu_mean)" in ten.report()
    zero = keynumbers.compare({**ref, "es_mu_mean_mcse": 0.0}, {**ref, "es_mu_mean": 4.41, "es_mu_mean_mcse": 0.0},
                              prefixes=PREFIXES)
    assert zero.failures == ["es_mu_mean: 4.41 differs from the reference 4.4 and both MCSEs are 0 (rounded? "
                             "glue az.summary(..., round_to='none') values)"]
    # the MCSE of the new build counts too: the same shift with a larger MCSE passes
    assert keynumbers.compare(ref, {**ref, "es_mu_mean": 4.40 - 10 * s, "es_mu_mean_mcse": 0.5},
                              prefixes=PREFIXES).ok


def test_deterministic_keys_keep_a_tight_tolerance():
    ref = _reference()
    assert keynumbers.compare(ref, {**ref, "es_pooled_mean": 7.6856 * (1 + 1e-8)}, prefixes=PREFIXES).ok
    found = keynumbers.compare(ref, {**ref, "es_pooled_mean": 7.6856 * (1 + 1e-3)}, prefixes=PREFIXES)
    assert not found.ok and found.failures[0].startswith("es_pooled_mean: expected 7.6856, got")
    assert not keynumbers.compare(ref, {**ref, "es_n_schools": 9}, prefixes=PREFIXES).ok
    assert not keynumbers.compare(ref, {**ref, "es_label": "mu"}, prefixes=PREFIXES).ok
    assert not keynumbers.compare(ref, {**ref, "es_n_schools": "8"}, prefixes=PREFIXES).ok
    # a key that gains or loses its MCSE changed its nature
    assert not keynumbers.compare(ref, {**ref, "es_pooled_mean_mcse": 0.1}, prefixes=PREFIXES).ok


def test_counts_and_times_are_left_out_with_a_reason():
    ref = _reference()
    result = keynumbers.compare(ref, {**ref, "es_centred_div_count": 50, "es_sampling_seconds": 99.0},
                                prefixes=PREFIXES)
    assert result.ok
    assert result.left_out == {"es_centred_div_count": "random count without an MCSE",
                               "es_sampling_seconds": "time or speed measured during the build"}
    assert "left out (random count without an MCSE): 1 keys: es_centred_div_count" in result.report()
    assert keynumbers.is_timing("ls_sweep_vec_ms") and keynumbers.is_timing("ls_nuts_ess_per_s")
    assert keynumbers.is_timing("ls_speed_ratio") and keynumbers.is_timing("sp_load")
    assert keynumbers.is_timing("ins_machine_measured") and keynumbers.is_timing("ins_total_minutes")
    assert not keynumbers.is_timing("es_pooled_mean") and not keynumbers.is_timing("ls_n_schools")


def test_only_the_chapters_present_are_compared():
    ref = _reference()
    chapter_one = {k: v for k, v in ref.items() if k.startswith("es_")}
    result = keynumbers.compare(ref, chapter_one, prefixes=PREFIXES)
    assert result.ok and result.groups == ["es_"] and result.ignored == 2
    assert result.n_random == 2 and result.n_deterministic == 3
    assert not keynumbers.compare(ref, chapter_one, scope="all", prefixes=PREFIXES).ok
    # a chapter that was built but glued nothing is compared (all its keys are missing)
    result = keynumbers.compare(ref, chapter_one, actual_notebooks=["01_eight_schools", "02_five_districts"],
                                prefixes=PREFIXES)
    assert result.missing == ["fd_slope_mean", "fd_truth"]


def test_missing_and_new_keys_are_named_clearly():
    ref = _reference()
    actual = {**{k: v for k, v in ref.items() if k != "es_label"}, "es_new_mean": 1.0, "es_new_mean_mcse": 0.1}
    result = keynumbers.compare(ref, actual, prefixes=PREFIXES)
    assert not result.ok and result.missing == ["es_label"] and result.new == ["es_new_mean"]
    text = result.report()
    assert "1 keys of the reference were not glued by this build" in text
    assert "not in the reference (it was recorded before they existed: re-record it" in text


def test_z_keeps_a_correct_build_below_one_failure_in_a_thousand():
    from scipy import stats

    for m in (1, 10, 100, 300):
        z = keynumbers.z_threshold(m)
        per_key = 2 * stats.t.sf(z, keynumbers.MCSE_DOF)
        assert 1 - (1 - per_key) ** m == pytest.approx(1e-3, rel=1e-6)
        assert 2 * stats.norm.sf(z) * m < 1e-3  # also when the MCSEs are exact
    assert keynumbers.z_threshold(100) == pytest.approx(5.85, abs=0.01)
    assert keynumbers.z_threshold(10) < keynumbers.z_threshold(100) < 10


def test_correct_builds_pass_and_a_real_shift_fails_in_simulation():
    """Simulated builds: 200 random keys with estimated MCSEs pass; a 10-MCSE shift of one key fails."""
    import numpy as np

    rng = np.random.default_rng(5)
    m, fails = 200, 0
    truth, sd = rng.normal(size=m), rng.uniform(0.01, 0.1, size=m)
    for _ in range(200):
        builds = []
        for _ in range(2):
            mcse = sd * rng.chisquare(100, size=m) ** 0.5 / 10  # estimated MCSE, 7 % relative error
            value = truth + sd * rng.normal(size=m)
            builds.append({**{f"es_k{i}": float(value[i]) for i in range(m)},
                           **{f"es_k{i}_mcse": float(mcse[i]) for i in range(m)}})
        fails += not keynumbers.compare(*builds, prefixes=PREFIXES).ok
    assert fails <= 1
    builds[1]["es_k0"] = builds[0]["es_k0"] + 10 * math.hypot(builds[0]["es_k0_mcse"], builds[1]["es_k0_mcse"])
    assert keynumbers.compare(*builds, prefixes=PREFIXES).failures[0].startswith("es_k0:")


def test_record_and_compare_on_the_command_line(tmp_path, capsys):
    summary = tmp_path / "ks" / "key_numbers.json"
    summary.parent.mkdir()
    summary.write_text(json.dumps({"numbers": _reference(), "notebooks": ["01_eight_schools"],
                                   "machine": {"cpu": "x", "versions": {"pymc": "5.0"}}}))
    reference = tmp_path / "reference.json"
    assert keynumbers.main(["record", str(summary), str(reference)]) == 0
    stored = json.loads(reference.read_text())
    assert stored["keys"]["es_mu_mean"] == {"value": 4.40, "mcse": 0.05}
    assert stored["keys"]["es_pooled_mean"] == {"value": 7.6856} and "es_mu_mean_mcse" not in stored["keys"]
    assert stored["machine"]["versions"] == {"pymc": "5.0"}
    assert keynumbers.numbers_of(stored) == _reference()
    capsys.readouterr()
    assert keynumbers.main(["compare", str(reference), str(summary.parent)]) == 0
    assert "verdict: PASS" in capsys.readouterr().out
    summary.write_text(json.dumps({"numbers": {**_reference(), "es_mu_mean": 5.0}}))
    assert keynumbers.main(["compare", str(reference), str(summary.parent)]) == 1
    out = capsys.readouterr().out
    assert "verdict: FAIL" in out and "largest deviation" in out and "es_mu_mean" in out
    assert keynumbers.main(["compare", str(reference), str(tmp_path / "nowhere")]) == 1
    assert "HBM_SUMMARY_DIR=DIR make chapter" in capsys.readouterr().err


def test_exact_comparison_of_two_builds(tmp_path):
    a = {"es_mean": 4.123456789, "es_mean_mcse": 0.01, "es_n": 8, "es_label": "tau", "es_nan": float("nan"),
         "es_div_count": 3, "es_run_seconds": 1.0}
    assert keynumbers.exact_differences(a, dict(a, es_run_seconds=2.0)) == []
    b = {**a, "es_mean": 4.123456789 * (1 + 1e-15), "es_div_count": 4, "fd_new": 1.0}
    del b["es_label"]
    found = keynumbers.exact_differences(a, b)
    assert "es_label: missing (expected 'tau')" in found and "fd_new: new key (value 1.0)" in found
    assert any(f.startswith("es_mean: expected") for f in found) and "es_div_count: expected 3, got 4" in found
    assert keynumbers.exact_differences({"x": 1.0}, {"x": 1}) == ["x: expected 1.0, got 1"]
    for name, data in (("a", a), ("b", a)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"numbers": data}))
    assert keynumbers.main(["compare", "--exact", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0


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
    verdict = samplers.verdicts(record, book_sampler="nutpie")
    assert verdict.loc["01_a", "faster end to end"] == "PyMC NUTS"
    assert verdict.loc["05_b", "faster end to end"] == "nutpie (numba)"
    assert verdict.loc["05_b", "wall ratio PyMC / nutpie"] == 5.0
    assert set(verdict["book uses"]) == {"nutpie (numba)"} and "book uses" not in samplers.verdicts(record)
    path = tmp_path / "samplers.json"
    path.write_text(json.dumps(record))
    assert samplers.load_record(path) == record
    with pytest.raises(FileNotFoundError, match="make benchmark-samplers"):
        samplers.load_record(tmp_path / "missing.json")
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


def test_the_forced_build_runs_every_notebook_of_the_toc():
    from hbm_book import ROOT, execute

    found = [p.relative_to(ROOT).with_suffix("").as_posix() for p in execute.toc_notebooks()]
    assert found[:5] == [f"book/{c}" for c in timings.budgets()]
    assert "book/your_own_data" in found and all((ROOT / f"{d}.ipynb").is_file() for d in found)


def test_notebooks_run_side_by_side_into_the_cache_myst_nb_reads(tmp_path):
    """Executed as myst-nb would (kernel alias applied), so its cache lookup finds them; a failure is named."""
    from jupyter_cache import get_cache

    from hbm_book import execute

    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nb = new_notebook(cells=[new_code_cell("import os\nprint(os.getcwd())")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, good)
    nb_bad = new_notebook(cells=[new_code_cell("1 / 0")], metadata=nb.metadata)
    nbformat.write(nb_bad, bad)
    record = execute.execute([good, bad], tmp_path / "cache", jobs=2)
    assert set(record["notebooks"]) == {"good"} and "ZeroDivisionError" in record["failed"]["bad"]
    read = nbformat.read(good, as_version=4)
    read.metadata["kernelspec"]["name"] = "hbm"       # what myst-nb does with nb_kernel_rgx_aliases
    cache = get_cache(str(tmp_path / "cache"))
    _, executed = cache.merge_match_into_notebook(read)
    assert executed.cells[0].outputs[0]["text"].strip() == str(tmp_path)   # ran in the notebook's folder


def test_the_hbm_kernel_is_ipykernels_and_freezes_its_objects_at_exit():
    """The kernelspec ``make install`` writes (the build's kernel) runs hbm_book.kernel, which registers
    gc.freeze to run at exit and then runs ipykernel's app (here its --help, which exits at once)."""
    import subprocess
    import sys

    from hbm_book import kernel

    spec_file = Path(sys.prefix) / "share" / "jupyter" / "kernels" / kernel.KERNEL_NAME / "kernel.json"
    spec = json.loads(spec_file.read_text())
    assert Path(spec["argv"][0]).parent == Path(sys.executable).parent
    assert spec["argv"][1:] == ["-Xfrozen_modules=off", "-m", "hbm_book.kernel", "-f", "{connection_file}"]
    assert spec["display_name"] == kernel.DISPLAY_NAME
    probe = ("import gc, runpy, sys; gc.freeze = lambda: print('frozen at exit'); "
             "sys.argv = ['hbm_book.kernel', '--help']; runpy.run_module('hbm_book.kernel', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--IPKernelApp." in out.stdout and out.stdout.rstrip().endswith("frozen at exit")


def test_bytecode_covers_hbms_dependencies_and_leaves_out_test_folders(tmp_path):
    """make install compiles the bytecode of hbm's own dependencies (not of the [book] and [test]
    extras), outside their test folders, as an import would."""
    import importlib.util

    from hbm_book import bytecode

    names = {p.name for p in bytecode.dependency_folders()}
    assert {"pymc", "pytensor", "arviz", "numpy", "scipy", "pandas", "matplotlib", "xarray", "astropy",
            "numba"} <= names
    assert not names & {"sphinx", "nutpie", "myst_nb", "_pytest", "playwright"}
    for path in ("pkg/__init__.py", "pkg/mod.py", "pkg/tests/test_mod.py", "pkg/testing/util.py",
                 "pkg/sub/testsuite.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x = 1\n")
    files = sorted(bytecode.source_files([tmp_path / "pkg"]))
    assert [str(tmp_path / p) for p in ("pkg/__init__.py", "pkg/mod.py", "pkg/sub/testsuite.py")] == files
    assert bytecode.compile_files(files, workers=2)
    assert all(Path(importlib.util.cache_from_source(f)).is_file() for f in files)
