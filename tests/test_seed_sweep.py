"""benchmarks/seed_sweep.py (issue 13): every strictly checked fit, with the chapter's settings, on
several seeds. The registry of fits must follow the notebooks; one cheap fit runs on one seed."""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def registry(sweep):
    return sweep.fits()


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("seed_sweep", ROOT / "benchmarks" / "seed_sweep.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed_sweep"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


@functools.cache
def _notebook_code(notebook: str) -> str:
    nb = nbformat.read(ROOT / "book" / f"{notebook}.ipynb", as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _call_around(code: str, position: int) -> str:
    """The text of the innermost call whose parentheses enclose ``position``."""
    depth, start = 0, position
    while start > 0:
        start -= 1
        depth += {")": 1, "(": -1}.get(code[start], 0)
        if depth < 0:
            break
    depth, end = 0, position
    while end < len(code):
        depth += {"(": 1, ")": -1}.get(code[end], 0)
        end += 1
        if depth < 0:
            break
    return code[start:end]


def sweep_priors(code: str) -> list[str]:
    """The sweep's names of chapter 1's tau priors after HalfCauchy(5), in the chapter's order."""
    table = code.split("tau_priors = {", 1)[1].split("}\n", 1)[0]
    names = {"HalfCauchy(25)": "halfcauchy25", "HalfNormal(10)": "halfnormal10",
             "Exponential(1/10)": "exponential", "Uniform(0, 100)": "uniform100",
             "InverseGamma(1, 1)": "invgamma11"}
    found = re.findall(r'^\s*"([^"]+)":', table, flags=re.M)
    assert found[0] == "HalfCauchy(5)", found
    return [f"es_prior_{names[n]}" for n in found[1:]]


# fits sampled in a loop of the chapter: the seed and settings the loop passes
LOOPS = {"es_prior_": "random_seed=200 + k", "es_simulated": "random_seed=seed",
         "ceph_complete": "random_seed=seeds[pooling]", "ceph_none": "random_seed=seeds[pooling]",
         "ceph_partial": "random_seed=seeds[pooling]"}
SETTING_KEYS = ("target_accept", "tune", "draws", "chains", "thin", "adapt_delta")


def test_every_strictly_checking_notebook_is_swept(registry):
    chapters = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb")
                      if "strict=True" in _notebook_code(p.stem))
    assert sorted({f.notebook for f in registry.values()}) == chapters


@pytest.mark.parametrize("name", [
    "es_noncentred", "es_flat", "es_prior_uniform100", "es_student_t", "es_simulated", "es_stan",
    "fd_pooled", "fd_unpooled", "fd_noncentred", "fd_prior_wide", "ds_partial", "ds_none", "ds_grid",
    "ceph_few", "ceph_complete", "ceph_none", "ceph_partial", "ceph_clusters", "ls_bugs", "ls_lkj", "ls_gibbs"])
def test_fit_settings_are_the_notebooks(registry, name):
    """The seed and sampler settings of a fit are those of the notebook's call (a notebook that
    changes them must change benchmarks/seed_sweep.py too)."""
    fit = registry[name]
    code = _notebook_code(fit.notebook)
    seed = fit.settings["seed"]
    if name.startswith("es_prior_"):  # 200 + the prior's position in the chapter's table
        assert seed - 200 == list(sweep_priors(code)).index(name) + 1
    else:
        assert re.search(rf"\b{seed}\b", code), f"{fit.notebook} never uses seed {seed}"
    literal = next((v for k, v in LOOPS.items() if name.startswith(k)), f"random_seed={seed}")
    found = [m.start() for m in re.finditer(re.escape(literal) + r"(?!\w)", code)]
    assert found, f"{fit.notebook} has no call with {literal}"
    calls = [_call_around(code, i) for i in found]
    wanted = {k: fit.settings[k] for k in SETTING_KEYS if k in fit.settings}

    def matches(call: str) -> bool:
        given = {k: v for k, v in re.findall(r"\b(\w+)=([\w.]+)", call) if k in SETTING_KEYS}
        if name == "es_simulated":  # the loop's (centred=False) row: 302 and target_accept 0.95
            given["target_accept"] = "0.95" if "(False, 302, 0.95)" in code else "?"
        if name.startswith("ceph_") and name in LOOPS:  # chapter 4's loop: target_accept[pooling], draws[pooling]
            for key in ("target_accept", "draws"):
                table = ast.literal_eval(re.search(rf"^{key} = (\{{.*?\}})$", code, flags=re.M)[1])
                given[key] = str(table[name.removeprefix("ceph_")])
        return given == {k: str(v) for k, v in wanted.items()}

    assert any(matches(c) for c in calls), f"{name}: settings {wanted}, notebook calls: {calls}"


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.xdist_group("pipelines")   # together on the other worker: see the Makefile
def test_sweep_runs_one_fit_on_one_seed(sweep, tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert sweep.main(["--fit", "es_noncentred", "--seeds", "1", "--out", str(out)]) == 0
    # an override of the settings (few tuning steps: this run may fail; the exit code says so)
    code = sweep.main(["--fit", "fd_pooled", "--seeds", "1", "--set", "tune=300", "--out", str(out)])
    result = json.loads(out.read_text())
    assert code == (0 if result["fits"]["fd_pooled"]["seeds_passing"] == 1 else 1)
    assert list(result["fits"]) == ["es_noncentred", "fd_pooled"]  # book order, both kept
    fit = result["fits"]["es_noncentred"]
    assert fit["seeds"] == fit["seeds_passing"] == 1 and fit["divergences"] == [0]
    assert fit["settings"] == {"seed": 102, "target_accept": 0.95}
    assert fit["min_ess_bulk"] >= 400 and fit["min_ess_tail"] >= 400 and fit["max_r_hat"] <= 1.01
    assert fit["runs"][0]["offset"] == 0 and fit["seconds_first"] > 0
    assert result["fits"]["fd_pooled"]["settings"]["tune"] == 300
    assert "es_noncentred: 1/1 seeds pass" in capsys.readouterr().out
