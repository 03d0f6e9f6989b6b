"""Tests for hbm.eight_schools (chapter 1)."""

import hbm  # noqa: I001  (first: configures PyTensor's BLAS before PyMC is imported)
from hbm import eight_schools as es

import numpy as np
import pytest
from scipy import integrate, stats

SCHOOLS = hbm.data.load("eight_schools")
Y = SCHOOLS["y"].to_numpy()
SIGMA = SCHOOLS["sigma"].to_numpy()

TAU_PRIORS = {
    "HalfCauchy(5)": {"dist": "HalfCauchy", "beta": 5},
    "HalfCauchy(25)": {"dist": "HalfCauchy", "beta": 25},
    "HalfNormal(10)": {"dist": "HalfNormal", "sigma": 10},
    "Exponential(1/10)": {"dist": "Exponential", "lam": 0.1},
    "Uniform(0, 100)": {"dist": "Uniform", "lower": 0, "upper": 100},
    "InverseGamma(1, 1)": {"dist": "InverseGamma", "alpha": 1, "beta": 1},
}
ALL_TAU_PRIORS = [*TAU_PRIORS.values(), {"dist": "HalfFlat"}]


def brute_force_tau_density(y, sigma, tau, mu_prior=None):
    """Unnormalised p(tau | y) with a flat tau prior, by 1-D quadrature over mu (flat or normal prior)."""
    def integrand(mu):
        prior = 1.0 if mu_prior is None else stats.norm.pdf(mu, mu_prior[0], mu_prior[1])
        return prior * np.prod(stats.norm.pdf(y, mu, np.sqrt(sigma**2 + tau**2)))
    return integrate.quad(integrand, -200, 200, epsabs=0, epsrel=1e-10, points=[np.mean(y)])[0]


def marginal_log_likelihood(y, sigma, tau, mu_prior=None):
    """log p(y | tau) with mu integrated out by linear algebra: y ~ N(m 1, D + s^2 1 1') for mu ~ N(m, s),
    and the limit of that (up to a constant) for a flat prior on mu."""
    d = np.diag(sigma**2 + tau**2)
    if mu_prior is not None:
        m, s = mu_prior
        return stats.multivariate_normal(np.full(len(y), m), d + s**2).logpdf(y)
    d_inv = np.linalg.inv(d)
    one = np.ones(len(y))
    a, b = one @ d_inv @ one, one @ d_inv @ y
    return -0.5 * (np.linalg.slogdet(d)[1] + np.log(a) + y @ d_inv @ y - b**2 / a)


def brute_force_tau_quantile(y, sigma, p, mu_prior=None):
    """Quantile of p(tau | y) with a flat tau prior: adaptive quadrature on (0, 50) and, with tau = 1/v,
    on (50, inf), then root finding."""
    from scipy.optimize import brentq

    shift = marginal_log_likelihood(y, sigma, 0.0, mu_prior)

    def f(t):
        return np.exp(marginal_log_likelihood(y, sigma, t, mu_prior) - shift)

    def cdf(q):
        if q <= 50:
            return integrate.quad(f, 0, q, limit=200, epsrel=1e-10)[0]
        return head + integrate.quad(lambda v: f(1 / v) / v**2, 1 / q, 1 / 50, limit=200, epsrel=1e-10)[0]

    head = integrate.quad(f, 0, 50, limit=200, epsrel=1e-10)[0]
    total = head + integrate.quad(lambda v: f(1 / v) / v**2, 0, 1 / 50, limit=200, epsrel=1e-10)[0]
    return brentq(lambda q: cdf(q) / total - p, 1e-6, 1e8, xtol=1e-9, rtol=1e-10)


# --- data and complete pooling ---------------------------------------------------------------

def test_pooled_estimate_matches_weighted_least_squares():
    mean, sd = es.pooled_estimate(Y, SIGMA)
    w = SIGMA**-2.0
    assert mean == pytest.approx(np.average(Y, weights=w))
    assert sd == pytest.approx(1 / np.sqrt(w.sum()))
    assert 7.0 < mean < 8.5 and 3.8 < sd < 4.3  # BDA3: 7.7 +/- 4.1


def test_pooled_estimate_equal_errors_is_plain_mean():
    mean, sd = es.pooled_estimate([1.0, 2.0, 6.0], [2.0, 2.0, 2.0])
    assert mean == pytest.approx(3.0) and sd == pytest.approx(2 / np.sqrt(3))


def test_pooled_ppc_fractions():
    out = es.pooled_ppc(Y, SIGMA, 4000, random_seed=1)
    assert out["min"].shape == out["max"].shape == (4000,)
    assert np.all(out["min"] <= out["max"])
    assert out["p_min"] == pytest.approx(np.mean(out["min"] <= Y.min()))
    assert 0.05 < out["p_min"] < 0.95 and 0.05 < out["p_max"] < 0.95


def test_random_seeds_go_through_hbm_seed(monkeypatch):
    a = es.pooled_ppc(Y, SIGMA, 50, random_seed=1)["min"]
    monkeypatch.setenv("HBM_SEED_OFFSET", "7")
    assert not np.array_equal(a, es.pooled_ppc(Y, SIGMA, 50, random_seed=1)["min"])
    np.testing.assert_array_equal(a, es.pooled_ppc(Y, SIGMA, 50, random_seed=-6)["min"])
    assert not np.array_equal(es.simulated_schools()["y"],
                              es.simulate_schools(8, **es.SIM_TRUTH, random_seed=es.SIM_SEED + 1)["y"])


@pytest.mark.parametrize("y, sigma, match", [
    ([1, 2, 3], [1, -1, 1], "row 1"),
    ([1, 2, 3], [1, 0, 1], "sigma must be finite and strictly positive"),
    ([1, 2, 3], [1, 1], "same length"),
    ([1, np.nan, 3], [1, 1, 1], r"y contains NaN.*row 1"),
    ([1], [1], "at least two"),
    ([[1, 2]], [[1, 2]], "one-dimensional"),
])
def test_bad_data_is_rejected(y, sigma, match):
    with pytest.raises(ValueError, match=match):
        es.validate_schools(y, sigma)
    with pytest.raises(ValueError, match=match):
        es.pooled_estimate(y, sigma)
    with pytest.raises(ValueError, match=match):
        es.build_model(y, sigma, centred=False)
    with pytest.raises(ValueError, match=match):
        es.exact_posterior_draws(y, sigma, 10, random_seed=1)


def test_validate_schools_returns_a_copy_and_names_the_source():
    y = np.array([1.0, 2.0])
    clean, _ = es.validate_schools(y, [1.0, 1.0])
    clean[0] = 99
    assert y[0] == 1.0
    with pytest.raises(ValueError, match="my file"):
        es.validate_schools([1.0], [1.0], source="my file")


# --- exact posterior ---------------------------------------------------------------------------

@pytest.mark.parametrize("tau_prior", ALL_TAU_PRIORS)
def test_tau_posterior_is_normalised(tau_prior):
    grid = es.tau_grid(SIGMA, 8000)
    dens = es.tau_posterior(Y, SIGMA, grid, priors={"tau": tau_prior})
    assert np.all(dens >= 0)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-4)


def test_tau_posterior_matches_brute_force_integration_over_mu():
    """p(tau | y) with mu ~ N(0, 5), from 1-D quadrature over mu of the joint density."""
    taus = np.array([0.5, 3.0, 10.0])
    brute = np.array([brute_force_tau_density(Y, SIGMA, t, (0, 5)) for t in taus])
    assert np.log(brute / brute[0]) == pytest.approx(
        [marginal_log_likelihood(Y, SIGMA, t, (0, 5)) - marginal_log_likelihood(Y, SIGMA, 0.5, (0, 5))
         for t in taus])
    ours = es.tau_posterior(Y, SIGMA, taus, priors={"tau": {"dist": "HalfFlat"}})
    np.testing.assert_allclose(ours / ours[0], brute / brute[0], rtol=1e-6)


def test_tau_posterior_uses_the_prior_of_hbm_priors():
    taus = np.array([0.5, 3.0, 10.0])
    flat = es.tau_posterior(Y, SIGMA, taus, priors={"tau": {"dist": "HalfFlat"}})
    hc = es.tau_posterior(Y, SIGMA, taus)  # the default HalfCauchy(5)
    ratio = (hc / flat) / (hc[0] / flat[0])
    np.testing.assert_allclose(ratio, stats.halfcauchy.pdf(taus, scale=5) / stats.halfcauchy.pdf(0.5, scale=5))


def test_tau_to_zero_gives_pooled_mean_for_every_school():
    pooled, _ = es.pooled_estimate(Y, SIGMA)
    curves = es.shrinkage_curves(Y, SIGMA, [0.0, 1e-6, 1e4], priors=es.BDA3_PRIORS)
    np.testing.assert_allclose(curves[0], pooled, atol=1e-12)
    np.testing.assert_allclose(curves[1], pooled, atol=1e-6)
    np.testing.assert_allclose(curves[2], Y, atol=0.05)
    mean, var = es.theta_given_mu_tau(Y, SIGMA, 3.0, 0.0)
    np.testing.assert_allclose(mean, 3.0)
    np.testing.assert_allclose(var, 0.0)


def test_exact_posterior_draws_shapes_and_values():
    d = es.exact_posterior_draws(Y, SIGMA, 20_000, random_seed=5, priors=es.BDA3_PRIORS)
    assert d["tau"].shape == d["mu"].shape == (20_000,) and d["theta"].shape == (20_000, 8)
    assert np.all(d["tau"] >= 0)
    # BDA3 table 5.3: theta_A median about 10, 95% interval about -2 to 31
    q = np.quantile(d["theta"][:, 0], [0.025, 0.5, 0.975])
    assert -4 < q[0] < 0 and 9 < q[1] < 11.5 and 28 < q[2] < 35
    means = es.exact_posterior_means(Y, SIGMA, priors=es.BDA3_PRIORS)
    assert d["tau"].mean() == pytest.approx(means["tau"], abs=0.2)
    np.testing.assert_allclose(d["theta"].mean(axis=0), means["theta"], atol=0.25)
    np.testing.assert_allclose(np.quantile(d["tau"], [0.25, 0.5, 0.75]),
                               es.exact_tau_quantiles(Y, SIGMA, [0.25, 0.5, 0.75], priors=es.BDA3_PRIORS),
                               atol=0.2)
    np.testing.assert_allclose(np.quantile(d["mu"], [0.05, 0.5, 0.95]),
                               es.exact_mu_quantiles(Y, SIGMA, [0.05, 0.5, 0.95], priors=es.BDA3_PRIORS),
                               atol=0.3)


def test_flat_prior_quantiles_match_brute_force():
    got = es.exact_tau_quantiles(Y, SIGMA, [0.5, 0.95], priors=es.BDA3_PRIORS)
    want = [brute_force_tau_quantile(Y, SIGMA, p) for p in (0.5, 0.95)]
    np.testing.assert_allclose(got, want, rtol=2e-3)


def test_exact_posterior_draws_are_reproducible_and_validated():
    a = es.exact_posterior_draws(Y, SIGMA, 50, random_seed=3)
    b = es.exact_posterior_draws(Y, SIGMA, 50, random_seed=3)
    np.testing.assert_array_equal(a["theta"], b["theta"])
    with pytest.raises(ValueError, match="n_draws"):
        es.exact_posterior_draws(Y, SIGMA, 0, random_seed=3)
    with pytest.raises(ValueError, match="unknown distribution"):
        es.exact_posterior_draws(Y, SIGMA, 10, priors={"tau": {"dist": "Jeffreys"}}, random_seed=3)
    with pytest.raises(ValueError, match="Normal or Flat prior on mu"):
        es.exact_posterior_draws(Y, SIGMA, 10, priors={"mu": {"dist": "Cauchy", "alpha": 0, "beta": 5}},
                                 random_seed=3)


@pytest.mark.parametrize("J", [2])
def test_improper_posterior_is_refused(J):
    """A flat prior on tau and on mu with J <= 2: p(tau | y) ~ tau^(1 - J), not integrable."""
    for call in (lambda: es.exact_posterior_draws(Y[:J], SIGMA[:J], 10, priors=es.BDA3_PRIORS, random_seed=1),
                 lambda: es.exact_tau_quantiles(Y[:J], SIGMA[:J], [0.5], priors=es.BDA3_PRIORS),
                 lambda: es.tau_posterior(Y[:J], SIGMA[:J], [1.0], priors=es.BDA3_PRIORS),
                 lambda: es.exact_posterior_means(Y[:J], SIGMA[:J], priors=es.BDA3_PRIORS)):
        with pytest.raises(ValueError, match=r"improper.*J = 2.*proper prior on tau"):
            call()


def test_two_schools_with_a_normal_mu_prior_are_proper_and_right():
    """With mu ~ N(0, 5) the tail is tau^-2: proper, and the grid is widened to hold it."""
    priors = {"tau": {"dist": "HalfFlat"}}
    got = es.exact_tau_quantiles(Y[:2], SIGMA[:2], [0.5], priors=priors)[0]
    assert got == pytest.approx(brute_force_tau_quantile(Y[:2], SIGMA[:2], 0.5, mu_prior=(0, 5)), rel=2e-3)


def test_three_schools_with_flat_priors_widen_the_grid():
    """J = 3 and flat priors: p(tau | y) ~ tau^-2, a heavy tail far beyond 40 max(sigma)."""
    y, sigma = Y[:3], SIGMA[:3]
    got = es.exact_tau_quantiles(y, sigma, [0.5, 0.9, 0.99], priors=es.BDA3_PRIORS)
    want = [brute_force_tau_quantile(y, sigma, p) for p in (0.5, 0.9, 0.99)]
    np.testing.assert_allclose(got, want, rtol=2e-3)
    old_end = 40 * sigma.max()
    assert got[2] > old_end  # the 99% quantile lies beyond the old grid's end
    beyond = 1 - es.exact_tau_cdf(y, sigma, old_end, priors=es.BDA3_PRIORS)
    assert beyond > 0.01
    d = es.exact_posterior_draws(y, sigma, 40_000, priors=es.BDA3_PRIORS, random_seed=2)
    assert np.mean(d["tau"] > old_end) == pytest.approx(beyond, abs=4 * np.sqrt(beyond / 40_000))
    assert es.exact_posterior_means(y, sigma, priors=es.BDA3_PRIORS)["tau"] == np.inf  # E[tau] diverges


def test_prior_sensitivity_numbers():
    """The independent review's exact numbers (issue 14): tau median, P(tau < 1), E[theta_A]."""
    table = es.prior_sensitivity(Y, SIGMA, TAU_PRIORS)
    expected = {"InverseGamma(1, 1)": (1.19, 0.43, 5.22), "HalfCauchy(5)": (2.75, 0.20, 6.21),
                "Uniform(0, 100)": (5.15, 0.10, 8.27)}
    for name, (median, p_small, theta_a) in expected.items():
        assert table.loc[name, "tau median"] == pytest.approx(median, abs=0.006)
        assert table.loc[name, "P(tau < 1)"] == pytest.approx(p_small, abs=0.006)
        assert table.loc[name, "E[theta]"] == pytest.approx(theta_a, abs=0.006)
    # the inverse-gamma pulls towards complete pooling: smallest median, most mass below 1
    assert table["tau median"].idxmin() == table["P(tau < 1)"].idxmax() == "InverseGamma(1, 1)"
    assert table.loc["HalfCauchy(25)", "prior 95%"] == pytest.approx(25 * np.tan(0.475 * np.pi))
    assert table.loc["InverseGamma(1, 1)", "tau 95%"] == pytest.approx(6.0, abs=0.05)


# --- PyMC model --------------------------------------------------------------------------------

@pytest.mark.parametrize("centred", [True, False])
@pytest.mark.parametrize("tau_prior", ALL_TAU_PRIORS)
def test_build_model_every_prior_and_parameterisation(centred, tau_prior):
    model = es.build_model(Y, SIGMA, centred=centred, priors={"tau": tau_prior})
    assert list(model.coords["school"]) == list("ABCDEFGH")
    names = {v.name for v in model.free_RVs}
    assert names == ({"mu", "tau", "theta"} if centred else {"mu", "tau", "z"})
    assert model.named_vars_to_dims["theta"] == ("school",)
    assert np.isfinite(model.compile_logp()(model.initial_point()))


@pytest.mark.parametrize("centred", [True, False])
def test_build_model_student_t_and_flat_mu(centred):
    model = es.build_model(Y, SIGMA, centred=centred, priors={"mu": {"dist": "Flat"}}, population="student_t",
                           nu=4)
    rv = model["theta"] if centred else model["z"]
    assert rv.owner.op.name == "t"
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_centred_and_noncentred_define_the_same_posterior():
    """The non-centred log density, minus the log-Jacobian of theta = mu + tau z, equals the centred one."""
    c = es.build_model(Y, SIGMA, centred=True)
    nc = es.build_model(Y, SIGMA, centred=False)
    mu, tau, z = 2.0, 3.0, np.linspace(-1, 1, 8)
    pc = c.compile_logp()({"mu": mu, "tau_log__": np.log(tau), "theta": mu + tau * z})
    pnc = nc.compile_logp()({"mu": mu, "tau_log__": np.log(tau), "z": z})
    assert pc + 8 * np.log(tau) == pytest.approx(pnc)


@pytest.mark.parametrize("kwargs, match", [
    ({"priors": {"tau": {"dist": "Gammma", "alpha": 1}}}, "unknown distribution"),
    ({"priors": {"tau": {"dist": "HalfCauchy"}}}, "takes exactly the parameters"),
    ({"priors": {"tau": {"dist": "HalfCauchy", "beta": -1}}}, "positive"),
    ({"priors": {"tau": {"dist": "Normal", "mu": 0, "sigma": 1}}}, "is a scale"),
    ({"priors": {"tau": {"dist": "Uniform", "lower": 5, "upper": 1}}}, "lower < upper"),
    ({"priors": {"tau": "HalfCauchy(5)"}}, "must be a dict"),
    ({"priors": {"sigma": {"dist": "HalfNormal", "sigma": 1}}}, "unknown prior"),
    ({"priors": {"mu": {"dist": "Normal", "mu": 0, "sigma": 0}}}, "positive"),
    ({"population": "cauchy"}, "population"),
    ({"population": "student_t", "nu": -2}, "nu"),
    ({"centred": "yes"}, "centred"),
    ({"schools": ["A", "B"]}, "labels"),
])
def test_build_model_bad_options(kwargs, match):
    kwargs = {"centred": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        es.build_model(Y, SIGMA, **kwargs)


def test_benchmark_model_is_the_noncentred_model_on_the_data():
    model, description = es.benchmark_model()
    assert {v.name for v in model.free_RVs} == {"mu", "tau", "z"}
    np.testing.assert_array_equal(model["y"].data if hasattr(model["y"], "data") else
                                  model.rvs_to_values[model["y"]].data, Y)
    assert "non-centred" in description
    assert hbm.chapters.chapter("eight_schools").benchmark_model == "benchmark_model"


def test_simulate_schools():
    sim = es.simulate_schools(8, mu=5, tau=3.5, sigma=12, random_seed=1)
    assert sim["y"].shape == sim["theta"].shape == sim["sigma"].shape == (8,)
    np.testing.assert_array_equal(sim["sigma"], 12.0)
    big = es.simulate_schools(20_000, mu=5, tau=3.5, sigma=12, random_seed=2)
    assert big["theta"].mean() == pytest.approx(5, abs=0.1)
    assert big["theta"].std() == pytest.approx(3.5, abs=0.1)
    assert np.std(big["y"] - big["theta"]) == pytest.approx(12, abs=0.3)
    with pytest.raises(ValueError, match="sigma"):
        es.simulate_schools(8, mu=5, tau=3.5, sigma=0, random_seed=1)


# --- Stan --------------------------------------------------------------------------------------

def test_stan_program_file_matches_the_default_priors():
    code = es.stan.program()
    assert es.stan.PROGRAM.suffix == ".stan" and es.stan.RUNNER.is_file()
    assert "mu ~ normal(0, 5)" in code and "tau ~ cauchy(0, 5)" in code
    assert es.DEFAULT_PRIORS == {"mu": {"dist": "Normal", "mu": 0.0, "sigma": 5.0},
                                 "tau": {"dist": "HalfCauchy", "beta": 5.0}}


def test_stan_runner_reports_a_failing_program(tmp_path):
    assert es.stan_available()
    bad = tmp_path / "bad.stan"
    bad.write_text("parameters { real mu; } model { mu ~ nonsense(0, 1); }")
    with pytest.raises(RuntimeError, match="Stan run failed"):
        es.sample_stan(Y, SIGMA, random_seed=1, path=bad, draws=10, tune=10, chains=1)


def test_stan_compiles_without_debug_information_and_keeps_the_users_flags(monkeypatch):
    assert es.stan.compile_env({})["CFLAGS"].split() == ["-g0"]
    env = es.stan.compile_env({"CFLAGS": "-I/opt/include", "CXXFLAGS": "-O2 -g", "PATH": "/bin"})
    assert env["CFLAGS"].split() == ["-I/opt/include", "-g0"]
    assert env["CXXFLAGS"].split()[-1] == "-g0" and env["PATH"] == "/bin"
    # and sample_stan starts PyStan's process with it
    started = []

    def run(args, **kwargs):
        started.append(kwargs.get("env"))
        raise OSError("not started")

    monkeypatch.setattr(es.stan.subprocess, "run", run)
    with pytest.raises(OSError):
        es.sample_stan(Y, SIGMA, random_seed=1)
    assert started and started[0]["CFLAGS"].split()[-1] == "-g0" == started[0]["CXXFLAGS"].split()[-1]


# --- self-checks: the right answer passes; a wrong one of the right shape fails, without the reference

def hidden(result, *reference):
    """True when the message shows none of the reference values (at the usual precisions)."""
    text = str(result)
    return not any(f"{r:.{d}f}" in text for r in np.ravel(reference) for d in (1, 2, 3))


def test_check_pooled_estimate():
    mean, sd = es.pooled_estimate(Y, SIGMA)
    assert es.checks.check_pooled_estimate(mean, sd)
    wrong = es.checks.check_pooled_estimate(np.mean(Y), np.std(Y) / np.sqrt(8))  # unweighted
    assert not wrong and hidden(wrong, mean, sd)


def test_check_pooled_extremes():
    ppc = es.pooled_ppc(Y, SIGMA, 20_000, random_seed=9)
    assert es.checks.check_pooled_extremes(ppc["p_min"], ppc["p_max"])
    ref = es.pooled_ppc(Y, SIGMA, 200_000, random_seed=1)
    wrong = es.checks.check_pooled_extremes(1 - ppc["p_min"], ppc["p_max"])  # the other tail
    assert not wrong and hidden(wrong, ref["p_min"], ref["p_max"])


def test_check_tau_quantiles():
    d = es.exact_posterior_draws(Y, SIGMA, 20_000, priors=es.BDA3_PRIORS, random_seed=4)
    assert es.checks.check_tau_quantiles(*np.quantile(d["tau"], [0.025, 0.5, 0.975]))
    ref = es.exact_tau_quantiles(Y, SIGMA, [0.025, 0.5, 0.975], priors=es.BDA3_PRIORS)
    wrong_prior = es.exact_tau_quantiles(Y, SIGMA, [0.025, 0.5, 0.975])  # HalfCauchy(5), not flat
    wrong = es.checks.check_tau_quantiles(*wrong_prior)
    assert not wrong and hidden(wrong, ref)
    assert "8%" in str(wrong)  # the relative tolerance is shown readably


def test_check_posterior_means():
    m = es.exact_posterior_means(Y, SIGMA)
    assert es.checks.check_posterior_means(m["mu"], m["tau"])
    flat = es.exact_posterior_means(Y, SIGMA, priors=es.BDA3_PRIORS)  # the wrong priors
    wrong = es.checks.check_posterior_means(flat["mu"], flat["tau"])
    assert not wrong and hidden(wrong, m["mu"], m["tau"])


def test_check_tau_median():
    asked = {"dist": "HalfCauchy", "beta": 25}
    median = es.exact_tau_quantiles(Y, SIGMA, [0.5], priors={"tau": asked})[0]
    assert es.checks.check_tau_median(asked, median)
    wrong = es.checks.check_tau_median(asked, median + 1.5)
    assert not wrong and hidden(wrong, median)
    # another prior with its own (right) median does not confirm the run the exercise asks for
    hc5 = {"dist": "HalfCauchy", "beta": 5}
    other = es.checks.check_tau_median(hc5, es.exact_tau_quantiles(Y, SIGMA, [0.5], priors={"tau": hc5})[0])
    assert not other and "HalfCauchy(25)" in str(other) and hidden(other, median)
    assert not es.checks.check_tau_median("HalfCauchy(25)", median)


def test_check_recovery():
    sim = es.simulated_schools()
    d = es.exact_posterior_draws(sim["y"], sim["sigma"], 40_000, random_seed=6)
    mu_90 = np.quantile(d["mu"], [0.05, 0.95])
    tau_90 = np.quantile(d["tau"], [0.05, 0.95])
    assert es.checks.check_recovery(mu_90, tau_90)
    ref_mu = es.exact_mu_quantiles(sim["y"], sim["sigma"], [0.05, 0.95])
    ref_tau = es.exact_tau_quantiles(sim["y"], sim["sigma"], [0.05, 0.95])
    for wrong in [es.checks.check_recovery([-100, 100], tau_90),  # contains any truth, far too wide
                  es.checks.check_recovery(mu_90, [0, 100]),
                  es.checks.check_recovery(np.quantile(d["mu"], [0.25, 0.75]), tau_90),  # a 50% interval
                  es.checks.check_recovery(mu_90 + 0.3 * np.ptp(mu_90), tau_90)]:  # shifted
        assert not wrong and hidden(wrong, ref_mu, ref_tau)
    assert not es.checks.check_recovery([2, 1], [0.1, 5])
    assert not es.checks.check_recovery("no", [0.1, 5])


def _tau_log_density(tau, *, v_mu_power=0.5):
    """log p(tau | y) (flat priors) by BDA3 eq. 5.21; another power of V_mu gives a plausible wrong answer."""
    var = SIGMA**2 + tau[:, None] ** 2
    v_mu = 1 / np.sum(1 / var, axis=1)
    mu_hat = v_mu * np.sum(Y / var, axis=1)
    return (v_mu_power * np.log(v_mu) - 0.5 * np.sum(np.log(var), axis=1)
            - 0.5 * np.sum((Y - mu_hat[:, None]) ** 2 / var, axis=1))


def test_check_tau_density():
    tau = np.linspace(0, 40, 801)
    right = np.exp(_tau_log_density(tau) - _tau_log_density(tau).max())
    assert es.checks.check_tau_density(tau, right / np.trapezoid(right, tau))
    assert es.checks.check_tau_density(tau, 3 * right)  # normalised by the check over the grid
    coarse = np.linspace(0, 50, 101)
    assert es.checks.check_tau_density(coarse, np.exp(_tau_log_density(coarse)))
    ref = es.tau_posterior(Y, SIGMA, tau, priors=es.BDA3_PRIORS)
    for power in (0.0, 1.0):  # V_mu^(1/2) left out, or V_mu instead of its square root
        wrong_density = np.exp(_tau_log_density(tau, v_mu_power=power))
        wrong = es.checks.check_tau_density(tau, wrong_density / np.trapezoid(wrong_density, tau))
        assert not wrong and hidden(wrong, ref.max()), power
    # the chapter's priors (mu ~ N(0, 5), tau ~ HalfCauchy(5)) instead of BDA3's flat ones
    assert not es.checks.check_tau_density(tau, es.tau_posterior(Y, SIGMA, tau))
    assert not es.checks.check_tau_density(tau[:40], right[:40])  # grid too short
    assert not es.checks.check_tau_density(tau, right[:-1])
    assert not es.checks.check_tau_density(tau, np.full(tau.shape, np.nan))


def test_check_understanding():
    right = {"a": False, "b": True, "c": False, "d": True, "e": False, "f": False}
    assert es.checks.check_understanding(right)
    wrong = es.checks.check_understanding({**right, "a": True})  # "complete pooling is ruled out"
    assert not wrong and "1 of the 6" in str(wrong) and "'a'" not in str(wrong)
    assert not es.checks.check_understanding({**right, "c": True, "e": True})
    assert not es.checks.check_understanding({k: v for k, v in right.items() if k != "f"})
    assert not es.checks.check_understanding({**right, "b": "yes"})
