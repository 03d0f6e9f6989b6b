"""Chapter 5 models, published-table comparison and school ranks."""

import arviz as az
import numpy as np
import pandas as pd
import pytest

import hbm
from hbm import rankings


@pytest.fixture(scope="module")
def london():
    return hbm.data.load_london_schools()


@pytest.mark.parametrize("kind", ["bugs_marginal", "bugs_joint", "lkj_marginal", "lkj_joint"])
def test_models_build_and_evaluate_at_the_initial_point(london, kind):
    model = {"bugs_marginal": lambda: rankings.build_bugs_model(london),
             "bugs_joint": lambda: rankings.build_bugs_model(london, marginalise_alpha=False),
             "lkj_marginal": lambda: rankings.build_lkj_model(london),
             "lkj_joint": lambda: rankings.build_lkj_model(london, marginalise_alpha=False)}[kind]()
    point = model.initial_point()
    logp = model.compile_logp()(point)
    assert np.isfinite(logp)
    names = set(model.named_vars)
    assert {"beta", "gamma", "theta", "phi"} <= names
    if kind.endswith("marginal"):
        assert "alpha" not in names and "Y_marginal" in names
    else:
        assert "alpha" in names
        alpha = model.compile_fn(model["alpha"], inputs=model.value_vars, on_unused_input="ignore")(point)
        assert alpha.shape == (38, 3)


def test_bartlett_prior_has_the_bugs_wishart_mean(london):
    """T ~ Wishart(R, 3) in BUGS means E[T] = 3 R^-1: check by prior simulation."""
    import pymc as pm

    model = rankings.build_bugs_model(london)
    T = pm.draw(model["T"], draws=4000, random_seed=1)
    expected = 3 * np.linalg.inv(london.attrs["R"])
    # Var T_ij = df (V_ij^2 + V_ii V_jj) with V = R^-1
    V = np.linalg.inv(london.attrs["R"])
    se = np.sqrt(3 * (V**2 + np.outer(np.diag(V), np.diag(V))) / T.shape[0])
    assert np.all(np.abs(T.mean(0) - expected) < 5 * se)


def test_design_maps_beta_to_the_bugs_covariates(london):
    d = rankings.design(london)
    np.testing.assert_allclose(d["X"][:, 0], london["LRT"] ** 2)
    np.testing.assert_allclose(d["X"][:, 1], london["vr2"])
    np.testing.assert_allclose(d["X"][:, 5:], london[["church_of_england", "roman_catholic", "other_denomination"]])
    np.testing.assert_allclose(d["Z"][:, 2], london["vr1"])
    assert d["school"].min() == 0 and d["M"] == 38


def test_bad_input_raises(london):
    with pytest.raises(ValueError, match="LRT"):
        rankings.design(london.drop(columns="LRT"))
    bad = london.copy()
    bad.attrs["R"] = np.eye(2)
    with pytest.raises(ValueError, match="Wishart"):
        rankings.build_bugs_model(bad)
    with pytest.raises(ValueError, match="eta"):
        rankings.build_lkj_model(london, eta=0)


def hand_made_posterior(values):
    """alpha of dims (chain, draw, school, coef) from per-draw intercepts."""
    values = np.asarray(values, float)           # (draws, schools)
    alpha = np.zeros((1, values.shape[0], values.shape[1], 3))
    alpha[0, :, :, 0] = values
    return az.from_dict(posterior={"alpha": alpha}, coords={"school": ["A", "B", "C", "D"], "coef": rankings.ALPHA_COLUMNS},
                        dims={"alpha": ["school", "coef"]})


def test_school_ranks_on_a_hand_made_posterior():
    # D is always best, A always worst; B and C swap places in one draw of four.
    idata = hand_made_posterior([[0.0, 1.0, 2.0, 3.0],
                                 [0.0, 1.0, 2.0, 3.0],
                                 [0.0, 1.0, 2.0, 3.0],
                                 [0.0, 2.0, 1.0, 3.0]])
    table = rankings.school_ranks(idata)
    assert list(table["school"]) == ["D", "C", "B", "A"]
    np.testing.assert_allclose(table["mean_rank"], [1.0, 2.25, 2.75, 4.0])
    row = table.set_index("school")
    assert row.loc["C", "median_rank"] == 2.0 and row.loc["B", "median_rank"] == 3.0
    assert (row.loc["C", "lower"], row.loc["C", "upper"]) == (2, 3)
    assert (row.loc["D", "lower"], row.loc["D", "upper"]) == (1, 1)
    draws = rankings.rank_draws(idata)
    assert draws.shape == (4, 4) and np.all(np.sort(draws.to_numpy(), axis=1) == [1, 2, 3, 4])


def test_school_ranks_rejects_bad_arguments():
    idata = hand_made_posterior([[0.0, 1.0, 2.0, 3.0]] * 2)
    with pytest.raises(ValueError, match="prob"):
        rankings.school_ranks(idata, prob=1.5)
    with pytest.raises(ValueError, match="no variable"):
        rankings.school_ranks(idata, var_name="beta")
    with pytest.raises(ValueError, match="InferenceData"):
        rankings.rank_draws(idata.posterior)


def test_school_ranks_self_check():
    idata = hand_made_posterior([[0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 1.0, 3.0]])
    assert hbm.checks.check_school_ranks(rankings.school_ranks(idata), idata)
    wrong = rankings.school_ranks(idata).assign(mean_rank=[1.0, 2.0, 3.0, 4.0])
    assert not hbm.checks.check_school_ranks(wrong, idata)
    assert not hbm.checks.check_school_ranks(rankings.school_ranks(idata).iloc[:3], idata)  # a school missing
    twice = pd.concat([rankings.school_ranks(idata)] * 2)
    assert "twice" in hbm.checks.check_school_ranks(twice, idata).message
    assert "could not read the posterior" in hbm.checks.check_school_ranks(rankings.school_ranks(idata), 1.0).message
    assert "DataFrame" in hbm.checks.check_school_ranks(1.0, idata).message


def test_compare_with_published_on_a_posterior_at_the_published_means():
    published = hbm.data.load_london_published()
    pub = published[published["source"] == "OpenBUGS-3.2.3"].set_index("node")
    rng = np.random.default_rng(0)
    n = 4000
    draw = {node: pub.loc[node, "mean"] + pub.loc[node, "sd"] * rng.standard_normal(n) for node in rankings.NODES}
    posterior = {"beta": np.stack([draw[f"beta[{k}]"] for k in range(1, 9)], -1)[None],
                 "gamma": np.stack([draw[f"gamma[{k}]"] for k in range(1, 4)], -1)[None],
                 "theta": draw["theta"][None], "phi": draw["phi"][None]}
    table = rankings.compare_with_published(az.from_dict(posterior=posterior), published)
    assert list(table.index) == rankings.NODES
    assert np.all(np.abs(table["z"]) < 0.1)
    np.testing.assert_allclose(table["sd"] / table["bugs_sd"], 1, atol=0.05)
    with pytest.raises(ValueError, match="source"):
        rankings.compare_with_published(az.from_dict(posterior=posterior), published, source="WinBUGS")


def test_marginal_likelihood_matches_the_multivariate_normal_of_each_school():
    """Integrating alpha out must give y_j ~ N(X beta + Z gamma, Z T^-1 Z' + W^-1) per school."""
    from scipy import stats

    from test_gibbs import simulate_schools

    rng = np.random.default_rng(2)
    df, _ = simulate_schools(rng, M=4, n_per=6)
    d = rankings.design(df)
    beta, gamma = rng.normal(0, 0.1, 8), np.array([-0.4, 0.02, 0.8])
    A = rng.normal(size=(3, 3))
    T = A @ A.T + 3 * np.eye(3)
    theta, phi = 0.5, 0.03
    F = np.linalg.cholesky(np.linalg.inv(T))
    got = rankings._marginal_loglik(d, gamma, beta, F, theta, phi).eval()
    ref = 0.0
    for j in range(d["M"]):
        rows = d["school"] == j
        Z, X = d["Z"][rows], d["X"][rows]
        cov = Z @ np.linalg.inv(T) @ Z.T + np.diag(np.exp(-(theta + phi * d["lrt"][rows])))
        ref += stats.multivariate_normal(X @ beta + Z @ gamma, cov).logpdf(d["y"][rows])
    assert got == pytest.approx(ref, rel=1e-9)
    assert rankings._marginal_loglik_precision(d, gamma, beta, T, theta, phi).eval() == pytest.approx(ref, rel=1e-9)


def test_schools_self_check_passes_at_the_published_means_and_fails_away_from_them():
    published = hbm.data.load_london_published()
    pub = published[published["source"] == "OpenBUGS-3.2.3"].set_index("node")
    rng = np.random.default_rng(1)

    def posterior(shift):
        d = {node: pub.loc[node, "mean"] + pub.loc[node, "sd"] * (rng.standard_normal(4000) + shift)
             for node in rankings.NODES}
        return az.from_dict(posterior={"beta": np.stack([d[f"beta[{k}]"] for k in range(1, 9)], -1)[None],
                                       "gamma": np.stack([d[f"gamma[{k}]"] for k in range(1, 4)], -1)[None],
                                       "theta": d["theta"][None], "phi": d["phi"][None]})

    assert hbm.checks.check_schools_posterior(posterior(0.0))
    result = hbm.checks.check_schools_posterior(posterior(0.5))
    assert not result and "0.4" not in str(result)
    assert not hbm.checks.check_schools_posterior(az.from_dict(posterior={"beta": np.zeros((1, 5, 8))}))


def test_gibbs_and_slope_self_checks():
    rng = np.random.default_rng(3)

    def posterior(shift=0.0, n=2000):
        return az.from_dict(posterior={"beta": rng.normal(shift, 1, (2, n, 8)), "gamma": rng.normal(shift, 1, (2, n, 3)),
                                       "theta": rng.normal(shift, 1, (2, n)), "phi": rng.normal(shift, 1, (2, n))})

    reference = posterior()
    assert hbm.checks.check_gibbs_agreement(posterior(), reference)
    assert not hbm.checks.check_gibbs_agreement(posterior(0.5), reference)

    sigma = np.zeros((2, 100, 3, 3))
    sigma[..., 1, 1] = 0.04 ** 2
    wishart = az.from_dict(posterior={"Sigma": sigma})
    lkj = az.from_dict(posterior={"sigma_alpha": np.full((2, 100, 3), 0.005)})
    assert hbm.checks.check_slope_sd(0.04, 0.005, wishart, lkj)
    assert not hbm.checks.check_slope_sd(0.005, 0.04, wishart, lkj)


def test_lkj_construction_matches_pymc_lkj_prior(london):
    """The correlation matrix built from canonical partial correlations has the LKJ(2) distribution."""
    import pymc as pm

    ours = pm.draw(rankings.build_lkj_model(london)["corr"], draws=8000, random_seed=1)
    ref = pm.draw(pm.LKJCorr.dist(n=3, eta=2.0, return_matrix=True), draws=8000, random_seed=2)
    iu = ([0, 0, 1], [1, 2, 2])
    # every marginal correlation of LKJ(eta=2) in 3 dimensions is 2 Beta(2.5, 2.5) - 1: variance 1/6
    np.testing.assert_allclose(ours[:, iu[0], iu[1]].var(0), 1 / 6, atol=0.012)
    np.testing.assert_allclose(ours[:, iu[0], iu[1]].mean(0), 0, atol=0.02)
    assert abs(np.linalg.det(ours).mean() - np.linalg.det(ref).mean()) < 0.01
