"""Tests for hbm.eight_schools (chapter 1)."""

import hbm  # noqa: I001  (first: configures PyTensor's BLAS before PyMC is imported)
from hbm import eight_schools as es

import numpy as np
import pytest
from scipy import integrate, stats

SCHOOLS = hbm.data.load_eight_schools()
Y = SCHOOLS["y"].to_numpy()
SIGMA = SCHOOLS["sigma"].to_numpy()

ALL_TAU_PRIORS = [
    {"dist": "HalfCauchy", "beta": 5},
    {"dist": "HalfCauchy", "beta": 25},
    {"dist": "HalfNormal", "sigma": 10},
    {"dist": "Exponential", "lam": 0.1},
    {"dist": "Uniform", "lower": 0, "upper": 100},
    {"dist": "InverseGamma", "alpha": 1, "beta": 1},
    {"dist": "HalfFlat"},
]


# --- pooled estimate ---------------------------------------------------------------------------

def test_pooled_estimate_matches_weighted_least_squares():
    mean, sd = es.pooled_estimate(Y, SIGMA)
    w = SIGMA**-2.0
    # the same numbers from the precision-weighted average computed differently
    assert mean == pytest.approx(np.average(Y, weights=w))
    assert sd == pytest.approx(1 / np.sqrt(w.sum()))
    assert 7.0 < mean < 8.5 and 3.8 < sd < 4.3  # BDA3: 7.7 +/- 4.1


def test_pooled_estimate_equal_errors_is_plain_mean():
    mean, sd = es.pooled_estimate([1.0, 2.0, 6.0], [2.0, 2.0, 2.0])
    assert mean == pytest.approx(3.0) and sd == pytest.approx(2 / np.sqrt(3))


def test_pooled_predictive_check_fractions():
    out = es.pooled_predictive_check(Y, SIGMA, 4000, random_seed=1)
    assert out["min"].shape == out["max"].shape == (4000,)
    assert np.all(out["min"] <= out["max"])
    assert out["p_min"] == pytest.approx(np.mean(out["min"] <= Y.min()))
    # data drawn from the pooled model itself should not look extreme
    assert 0.05 < out["p_min"] < 0.95 and 0.05 < out["p_max"] < 0.95


@pytest.mark.parametrize("y, sigma, match", [
    ([1, 2, 3], [1, -1, 1], "sigma"),
    ([1, 2, 3], [1, 0, 1], "sigma"),
    ([1, 2, 3], [1, 1], "same length"),
    ([1, np.nan, 3], [1, 1, 1], "y contains"),
    ([1], [1], "at least two"),
    ([[1, 2]], [[1, 2]], "one-dimensional"),
])
def test_bad_data_is_rejected(y, sigma, match):
    with pytest.raises(ValueError, match=match):
        es.pooled_estimate(y, sigma)
    with pytest.raises(ValueError, match=match):
        es.build_model(y, sigma, centered=False)
    with pytest.raises(ValueError, match=match):
        es.exact_posterior_draws(y, sigma, 10, random_seed=1)


# --- exact posterior ---------------------------------------------------------------------------

@pytest.mark.parametrize("tau_prior", ["uniform", *ALL_TAU_PRIORS[:-1]])
def test_tau_posterior_is_normalised(tau_prior):
    grid = es.tau_grid(SIGMA)
    dens = es.tau_posterior(Y, SIGMA, grid, tau_prior=tau_prior)
    assert np.all(dens >= 0)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0)
    # the grid is wide enough: negligible mass in its last tenth
    tail = grid > 0.9 * grid[-1]
    assert np.trapezoid(dens[tail], grid[tail]) < 1e-6


def test_tau_posterior_matches_brute_force_integration_over_mu():
    """p(tau | y) with mu ~ N(0, 5), from 1-D quadrature over mu of the joint density."""
    mu_prior = {"dist": "Normal", "mu": 0, "sigma": 5}
    taus = np.array([0.5, 3.0, 10.0])

    def marginal(tau):
        f = lambda mu: stats.norm.pdf(mu, 0, 5) * np.prod(stats.norm.pdf(Y, mu, np.sqrt(SIGMA**2 + tau**2)))
        return integrate.quad(f, -60, 60, epsabs=0, epsrel=1e-10)[0]

    brute = np.array([marginal(t) for t in taus])
    grid = np.concatenate([[0.0], taus, [50.0]])
    ours = es.tau_posterior(Y, SIGMA, grid, mu_prior=mu_prior)[1:-1]
    np.testing.assert_allclose(ours / ours[0], brute / brute[0], rtol=1e-6)


def test_tau_to_zero_gives_pooled_mean_for_every_school():
    pooled, _ = es.pooled_estimate(Y, SIGMA)
    curves = es.shrinkage_curves(Y, SIGMA, [0.0, 1e-6, 1e4])
    np.testing.assert_allclose(curves[0], pooled, atol=1e-12)
    np.testing.assert_allclose(curves[1], pooled, atol=1e-6)
    # and no pooling as tau grows
    np.testing.assert_allclose(curves[2], Y, atol=0.05)
    # draws at tau = 0: every theta equals mu
    mean, var = es.theta_given_mu_tau(Y, SIGMA, 3.0, 0.0)
    np.testing.assert_allclose(mean, 3.0)
    np.testing.assert_allclose(var, 0.0)


def test_exact_posterior_draws_shapes_and_values():
    d = es.exact_posterior_draws(Y, SIGMA, 20_000, random_seed=5)
    assert d["tau"].shape == d["mu"].shape == (20_000,) and d["theta"].shape == (20_000, 8)
    assert np.all(d["tau"] >= 0)
    # BDA3 table 5.3: theta_A median about 10, 95% interval about -2 to 31
    q = np.quantile(d["theta"][:, 0], [0.025, 0.5, 0.975])
    assert -4 < q[0] < 0 and 9 < q[1] < 11.5 and 28 < q[2] < 35
    # sample means agree with the quadrature means
    means = es.exact_posterior_means(Y, SIGMA)
    assert d["tau"].mean() == pytest.approx(means["tau"], abs=0.2)
    np.testing.assert_allclose(d["theta"].mean(axis=0), means["theta"], atol=0.25)
    # quantiles agree with the grid CDF
    np.testing.assert_allclose(np.quantile(d["tau"], [0.25, 0.5, 0.75]),
                               es.exact_tau_quantiles(Y, SIGMA, [0.25, 0.5, 0.75]), atol=0.2)


def test_exact_posterior_draws_are_reproducible_and_validated():
    a = es.exact_posterior_draws(Y, SIGMA, 50, random_seed=3)
    b = es.exact_posterior_draws(Y, SIGMA, 50, random_seed=3)
    np.testing.assert_array_equal(a["theta"], b["theta"])
    with pytest.raises(ValueError, match="n_draws"):
        es.exact_posterior_draws(Y, SIGMA, 0, random_seed=3)
    with pytest.raises(ValueError, match="tau_prior"):
        es.exact_posterior_draws(Y, SIGMA, 10, tau_prior="jeffreys", random_seed=3)


# --- PyMC model --------------------------------------------------------------------------------

@pytest.mark.parametrize("centered", [True, False])
@pytest.mark.parametrize("tau_prior", ALL_TAU_PRIORS)
def test_build_model_every_prior_and_parameterisation(centered, tau_prior):
    model = es.build_model(Y, SIGMA, centered=centered, tau_prior=tau_prior)
    assert list(model.coords["school"]) == list("ABCDEFGH")
    names = {v.name for v in model.free_RVs}
    assert names == ({"mu", "tau", "theta"} if centered else {"mu", "tau", "z"})
    assert "theta" in model.named_vars
    assert model.named_vars_to_dims["theta"] == ("school",)
    logp = model.compile_logp()(model.initial_point())
    assert np.isfinite(logp)


@pytest.mark.parametrize("centered", [True, False])
def test_build_model_student_t_and_flat_mu(centered):
    model = es.build_model(Y, SIGMA, centered=centered, mu_prior={"dist": "Flat"}, population="student_t", nu=4)
    rv = model["theta"] if centered else model["z"]
    assert rv.owner.op.name == "t"  # PyTensor's Student-t random variable
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_centred_and_noncentred_define_the_same_posterior():
    """The non-centred log density, minus the log-Jacobian of theta = mu + tau z, equals the centred one."""
    c = es.build_model(Y, SIGMA, centered=True)
    nc = es.build_model(Y, SIGMA, centered=False)
    mu, tau, z = 2.0, 3.0, np.linspace(-1, 1, 8)
    pc = c.compile_logp()({"mu": mu, "tau_log__": np.log(tau), "theta": mu + tau * z})
    pnc = nc.compile_logp()({"mu": mu, "tau_log__": np.log(tau), "z": z})
    assert pc + 8 * np.log(tau) == pytest.approx(pnc)


@pytest.mark.parametrize("kwargs, match", [
    ({"tau_prior": {"dist": "Gamma", "alpha": 1}}, "unknown tau prior"),
    ({"tau_prior": {"dist": "HalfCauchy"}}, "exactly the parameters"),
    ({"tau_prior": {"dist": "HalfCauchy", "beta": -1}}, "positive"),
    ({"tau_prior": {"dist": "HalfNormal", "sigma": 1, "mu": 0}}, "exactly the parameters"),
    ({"tau_prior": {"dist": "Uniform", "lower": 5, "upper": 1}}, "lower < upper"),
    ({"tau_prior": "HalfCauchy(5)"}, "must be a dict"),
    ({"mu_prior": {"dist": "Normal", "mu": 0, "sigma": 0}}, "positive"),
    ({"mu_prior": {"dist": "Cauchy", "alpha": 0, "beta": 1}}, "unknown mu prior"),
    ({"population": "cauchy"}, "population"),
    ({"population": "student_t", "nu": -2}, "nu"),
    ({"centered": "yes"}, "centered"),
    ({"schools": ["A", "B"]}, "labels"),
])
def test_build_model_bad_options(kwargs, match):
    kwargs = {"centered": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        es.build_model(Y, SIGMA, **kwargs)


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


def test_stan_program_matches_the_default_priors():
    assert "mu ~ normal(0, 5)" in es.STAN_NONCENTRED
    assert "tau ~ cauchy(0, 5)" in es.STAN_NONCENTRED
    assert es.DEFAULT_MU_PRIOR == {"dist": "Normal", "mu": 0.0, "sigma": 5.0}
    assert es.DEFAULT_TAU_PRIOR == {"dist": "HalfCauchy", "beta": 5.0}


# --- self-checks -------------------------------------------------------------------------------

def test_self_checks_pass_on_the_reference_and_fail_when_wrong():
    mean, sd = es.pooled_estimate(Y, SIGMA)
    assert hbm.checks.check_pooled_estimate(mean, sd)
    assert not hbm.checks.check_pooled_estimate(mean + 1, sd)
    q = es.exact_tau_quantiles(Y, SIGMA, [0.025, 0.5, 0.975])
    assert hbm.checks.check_tau_quantiles(*q)
    assert not hbm.checks.check_tau_quantiles(q[0], q[1] + 2, q[2])
    m = es.exact_posterior_means(Y, SIGMA, tau_prior=es.DEFAULT_TAU_PRIOR, mu_prior=es.DEFAULT_MU_PRIOR)
    assert hbm.checks.check_posterior_means(m["mu"], m["tau"])
    assert not hbm.checks.check_posterior_means(m["mu"], m["tau"] + 1)
    ppc = es.pooled_predictive_check(Y, SIGMA, 20_000, random_seed=9)
    assert hbm.checks.check_pooled_extremes(ppc["p_min"], ppc["p_max"])
    assert not hbm.checks.check_pooled_extremes(1 - ppc["p_min"], ppc["p_max"])
    assert "7.6" not in str(hbm.checks.check_pooled_estimate(0, 0))  # never reveals the reference


def test_tau_median_and_recovery_checks():
    prior = {"dist": "HalfCauchy", "beta": 25}
    median = es.exact_tau_quantiles(Y, SIGMA, [0.5], tau_prior=prior, mu_prior=es.DEFAULT_MU_PRIOR)[0]
    assert hbm.checks.check_tau_median(prior, median)
    assert not hbm.checks.check_tau_median(prior, median + 2)
    # the median depends on the prior: HalfCauchy(5) gives a clearly smaller one
    assert not hbm.checks.check_tau_median(prior, es.exact_tau_quantiles(
        Y, SIGMA, [0.5], tau_prior={"dist": "InverseGamma", "alpha": 1, "beta": 1}, mu_prior=es.DEFAULT_MU_PRIOR)[0])
    truth = es.SIM_TRUTH
    assert hbm.checks.check_recovery([truth["mu"] - 1, truth["mu"] + 1], [0.1, truth["tau"] + 1])
    assert not hbm.checks.check_recovery([truth["mu"] + 1, truth["mu"] + 2], [0.1, truth["tau"] + 1])
    assert not hbm.checks.check_recovery([2, 1], [0.1, 5])
    assert not hbm.checks.check_recovery("no", [0.1, 5])
