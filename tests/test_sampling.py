import importlib.util

import numpy as np
import pymc as pm
import pytest
from pytensor.compile.sharedvalue import SharedVariable

import hbm
from hbm import sampling


def converging_model() -> pm.Model:
    """A model every sampler converges on, with a named dimension and a positive (transformed)
    variable. Several tests sample it: numba compiles its functions once and then finds them in
    PyTensor's cache (each new model costs 1.5 to 4.5 s of compilation on a new machine)."""
    with pm.Model(coords={"group": ["a", "b"]}) as model:
        pm.LogNormal("sigma", 0.0, 1.0, dims="group")   # on the sampler's log scale, a normal too
        pm.Normal("x", 0, 1, dims="group")
    return model


@pytest.fixture(scope="module")
def good_idata():
    return sampling.sample(converging_model(), random_seed=1, draws=500, tune=500, chains=2, progressbar=False)


def test_sample_requires_an_integer_seed():
    with pm.Model() as model:
        pm.Normal("x")
    with pytest.raises(TypeError, match="random_seed must be an integer"):
        sampling.sample(model, random_seed=None)
    with pytest.raises(TypeError):
        sampling.sample(model)  # type: ignore[call-arg]


def test_sample_is_reproducible(good_idata):
    again = sampling.sample(converging_model(), random_seed=1, draws=500, tune=500, chains=2, progressbar=False)
    for name in ("sigma", "x"):
        np.testing.assert_array_equal(good_idata.posterior[name].values, again.posterior[name].values)


@pytest.mark.parametrize("value, quiet", [("1", True), ("yes", True), ("0", False), ("", False), (None, False)])
def test_hbm_quiet(monkeypatch, value, quiet):
    if value is None:
        monkeypatch.delenv(sampling.QUIET_ENV, raising=False)
    else:
        monkeypatch.setenv(sampling.QUIET_ENV, value)
    assert sampling.quiet() is quiet


def test_the_sampler_is_chosen_in_one_place():
    expected = "nutpie" if importlib.util.find_spec("nutpie") else "pymc"
    assert sampling.NUTS_SAMPLER == expected and sampling.DEFAULTS["nuts_sampler"] == expected


def test_seed_offset(monkeypatch):
    monkeypatch.delenv(hbm.SEED_OFFSET_ENV, raising=False)
    assert hbm.seed(2024) == 2024
    monkeypatch.setenv(hbm.SEED_OFFSET_ENV, "7")
    assert hbm.seed(2024) == 2031 and hbm.seed(np.int64(1)) == 8
    with pytest.raises(TypeError, match="must be an integer"):
        hbm.seed(1.5)
    with pytest.raises(TypeError, match="must be an integer"):
        hbm.seed(True)
    monkeypatch.setenv(hbm.SEED_OFFSET_ENV, "seven")
    with pytest.raises(ValueError, match="HBM_SEED_OFFSET must be an integer, got 'seven'"):
        hbm.seed(1)


def test_sample_applies_the_seed_offset(monkeypatch):
    """HBM_SEED_OFFSET=7 with random_seed=1 hands PyMC the seed that random_seed=8 hands it without
    an offset, so it draws what random_seed=8 draws (a seed's draws repeat:
    test_sample_is_reproducible)."""
    import arviz as az

    seeds = []

    def recorded(**kwargs):
        seeds.append(kwargs["random_seed"])
        return az.from_dict(posterior={"x": np.zeros((2, 5, 2))})

    monkeypatch.setattr(pm, "sample", recorded)
    with pm.Model() as model:
        pm.Normal("x", 0, 1, shape=2)
    monkeypatch.delenv(hbm.SEED_OFFSET_ENV, raising=False)
    sampling.sample(model, random_seed=8)
    sampling.sample(model, random_seed=1)
    monkeypatch.setenv(hbm.SEED_OFFSET_ENV, "7")
    sampling.sample(model, random_seed=1)
    assert seeds == [8, 1, 8]


def test_converging_model_passes(good_idata):
    report = sampling.check_convergence(good_idata, ess_min=200, strict=True)
    assert report.ok and report.divergences == 0
    assert list(report.table.index) == ["x[a]", "x[b]", "sigma[a]", "sigma[b]"]
    assert report.table["ok"].all()
    assert "Converged" in str(report)


def test_model_that_cannot_converge_is_reported():
    # Two chains stuck in different modes of a well-separated mixture: R-hat must flag it. Every draw
    # of one chain is below every draw of the other, so R-hat is about 1.8 at any length (1.82 to
    # 1.93 on seeds 1 to 8 with 100 draws): 100 draws say what 300 said, in half the time.
    with pm.Model() as model:
        pm.NormalMixture("x", w=[0.5, 0.5], mu=[-20.0, 20.0], sigma=[1.0, 1.0])
    idata = sampling.sample(model, random_seed=3, draws=100, tune=100, chains=2, progressbar=False,
                            initvals=[{"x": -20.0}, {"x": 20.0}], nuts_sampler="pymc")  # nutpie ignores initvals
    report = sampling.check_convergence(idata)
    assert not report.ok
    assert any("R-hat" in f for f in report.failures)
    assert "NOT converged" in report.summary()
    with pytest.raises(sampling.ConvergenceError, match=r"x: R-hat"):
        sampling.check_convergence(idata, strict=True)


def test_divergences_and_thresholds_are_reported():
    # The centred funnel (Neal 2003) diverges; a tiny ESS demand alone still fails on divergences.
    # target_accept 0.6 (larger steps): two chains of 300 diverged on each of 40 seeds, against 34 of
    # 40 at the default 0.8 (seed 2 gave none once numba compiled at another optimisation level)
    with pm.Model() as model:
        log_sigma = pm.Normal("log_sigma", 0, 3)
        pm.Normal("x", 0, pm.math.exp(log_sigma), shape=5)
    idata = sampling.sample(model, random_seed=2, draws=300, tune=300, chains=2, target_accept=0.6,
                            progressbar=False)
    report = sampling.check_convergence(idata, rhat_max=10, ess_min=1, bfmi_min=0)
    assert report.divergences > 0
    assert report.failures == [f"{report.divergences} divergent transitions (at most 0 allowed)"]
    assert sampling.check_convergence(idata, rhat_max=10, ess_min=1, bfmi_min=0,
                                      max_divergences=report.divergences).ok


def test_nutpie_posterior_looks_like_pymcs(good_idata):
    """nutpie (the default sampler) names the variables, dimensions and coordinates as PyMC does, and
    gives a transformed variable on its own scale (sigma, not sigma_log__)."""
    assert sampling.DEFAULTS["nuts_sampler"] == "nutpie", "premise: good_idata was drawn by nutpie"
    post = good_idata.posterior
    assert sorted(post.data_vars) == ["sigma", "x"]
    assert post["sigma"].dims == ("chain", "draw", "group") and list(post["group"].values) == ["a", "b"]
    assert post.sizes == {"chain": 2, "draw": 500, "group": 2} and bool((post["sigma"] > 0).all())


def test_a_model_with_data_is_sampled_frozen_at_its_current_data(monkeypatch):
    """sample() hands the sampler a copy of a model with data containers, their values fixed as
    constants (faster to compile); the model keeps its container, and data set before sampling count."""
    handed, pm_sample = [], pm.sample
    monkeypatch.setattr(pm, "sample", lambda model, **kw: handed.append(model) or pm_sample(model=model, **kw))
    with pm.Model(coords={"obs": range(3)}) as model:
        x = pm.Data("x", np.zeros(3), dims="obs")
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu + x, 0.1, observed=np.full(3, 5.0), dims="obs")
    with model:
        pm.set_data({"x": np.full(3, 2.0)})
    idata = sampling.sample(model, random_seed=6, draws=200, tune=200, chains=2, progressbar=False)
    assert float(idata.posterior["mu"].mean()) == pytest.approx(3.0, abs=0.05)   # posterior sd 0.058
    assert handed[0] is not model and not any(isinstance(v, SharedVariable) for v in handed[0].data_vars)
    assert [v.name for v in model.data_vars] == ["x"]


def test_numba_slice_assignment_errors_are_switched_and_still_raise():
    import numba

    assert sampling.plain_numba_shape_errors(), "the locked numba no longer has the internals this switches"

    @numba.njit
    def assign(a, b):
        a[...] = b
        return a

    shape = (1, 1, 1, 1, 2)  # a rank nothing else compiles, so numba has no earlier implementation cached
    assert assign(np.zeros(shape), np.full(shape, 2.0)).sum() == 4.0
    with pytest.raises(ValueError, match="^cannot assign slice from input of different size$"):
        assign(np.zeros(shape), np.ones((1, 1, 1, 1, 3)))


def test_nutpie_wrappers_with_the_narrower_try_return_what_nutpies_own_return():
    """faster_nutpie_wrappers() applies to the locked nutpie, and its C wrappers give the same
    codes and values as nutpie's own, built for the same compiled model: a finite point (0), a NaN
    log density with a finite gradient (4), an infinite gradient (3), an error raised in the model's
    function (1) and a wrong dimension (-1); the values of a draw agree too."""
    import ctypes

    import numba
    import nutpie
    import pytensor.tensor as pt
    from pytensor.raise_op import Assert

    assert sampling.faster_nutpie_wrappers(), "the locked nutpie no longer has the wrappers this replaces"
    with pm.Model() as model:
        x = pm.Normal("x", 0, 1, shape=2)
        pm.Potential("p", pt.log(1 - x[0] ** 2) + Assert("x[1] < 2")(pt.log(x[1] ** 2), x[1] < 2))
    compiled = nutpie.compile_pymc_model(model)
    n, user_data = compiled.n_dim, compiled.user_data.ctypes.data_as(ctypes.c_void_p)
    shared = (compiled.user_data, compiled.shared_data)

    def nutpies_own(name, fn, *sizes):
        py_func, signature = sampling._NUTPIE_ORIGINALS[name](*sizes, fn.vm.jit_fn, shared[0],
                                                              [v.name for v in fn.get_shared()], shared[1])
        return numba.cfunc(signature)(py_func)

    def pointer(a):
        return a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

    def logp(cfunc, point, dim=n):
        x, grad, value = np.asarray(point, dtype=float), np.zeros(n), np.zeros(())
        return cfunc.ctypes(dim, pointer(x), pointer(grad), pointer(value), user_data), float(value), grad.tolist()

    own = nutpies_own("_make_c_logp_func", compiled.logp_func, n)
    points = [[0.3, 0.5], [1.5, 0.5], [0.3, 0.0], [0.3, 2.5]]
    results = [logp(compiled.compiled_logp_func, p) for p in points]
    assert [r[0] for r in results] == [0, 4, 3, 1]
    assert repr(results) == repr([logp(own, p) for p in points])      # repr: NaN equals NaN
    assert logp(compiled.compiled_logp_func, points[0], dim=n + 1)[0] == logp(own, points[0], dim=n + 1)[0] == -1

    def expand(cfunc):
        x, values = np.array(points[0]), np.zeros(compiled.n_expanded)
        return cfunc.ctypes(n, compiled.n_expanded, pointer(x), pointer(values), user_data), values.tolist()

    own = nutpies_own("_make_c_expand_func", compiled.expand_func, n, compiled.n_expanded)
    assert expand(compiled.compiled_expand_func) == expand(own) == (0, points[0])


def test_book_build_is_quiet(monkeypatch, capfd):
    monkeypatch.setenv(sampling.QUIET_ENV, "1")
    sampling.sample(converging_model(), random_seed=5, draws=50, tune=50, chains=2)
    captured = capfd.readouterr()
    assert "NUTS" not in captured.err and "Sampling" not in captured.err


@pytest.mark.parametrize("preset", [None, "3"])
def test_import_hbm_has_numba_compile_at_level_1_unless_set(preset):
    """``import hbm`` before numba sets numba's LLVM optimisation level to 1; a level the user set
    is kept (checked in a new process, where numba reads the variable on import)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_OPT"}
    if preset is not None:
        env["NUMBA_OPT"] = preset
    out = subprocess.run([sys.executable, "-c", "import hbm, numba; print(int(numba.config.OPT))"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()[-1]
    assert out == (preset or "1")
