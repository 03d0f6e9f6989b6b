"""Chapter 5: validation, models, the marginal likelihood, the hand-written Gibbs sampler,
ranks, the comparison with the published tables, and the self-checks against their references."""

from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hbm
from hbm import school_rankings as ls
from hbm.school_rankings import checks
from hbm.school_rankings.design import BETA_COLUMNS, PRIOR_SD


def simulate_schools(rng, M=6, n_per=40, *, beta=None, gamma=(-0.5, 0.03, 0.9),
                     sd=(0.3, 0.01, 0.2), theta=0.6, phi=-0.01):
    """Pupils in M schools with the Schools model's structure, and the truth they came from."""
    school = np.repeat(np.arange(1, M + 1), n_per)
    n = school.size
    lrt = rng.normal(0, 10, n)
    lrt -= lrt.mean()
    band = rng.choice(3, size=n, p=[0.25, 0.5, 0.25])
    kind = rng.choice(3, size=M)            # mixed, girls', boys' school
    denom = rng.choice(4, size=M)           # state, CofE, RC, other
    df = pd.DataFrame({"school": school, "LRT": lrt, "vr1": (band == 0) * 1.0, "vr2": (band == 1) * 1.0,
                       "girls_school": (kind[school - 1] == 1) * 1.0, "boys_school": (kind[school - 1] == 2) * 1.0,
                       "church_of_england": (denom[school - 1] == 1) * 1.0,
                       "roman_catholic": (denom[school - 1] == 2) * 1.0,
                       "other_denomination": (denom[school - 1] == 3) * 1.0})
    df["girl"] = np.where(kind[school - 1] == 1, 1.0, np.where(kind[school - 1] == 2, 0.0, rng.integers(0, 2, n)))
    beta = np.array([2.5e-4, 0.4, 0.17, 0.1, 0.05, -0.2, 0.15, -0.15]) if beta is None else np.asarray(beta)
    alpha = np.asarray(gamma) + rng.standard_normal((M, 3)) * np.asarray(sd)
    X = np.column_stack([lrt**2] + [df[c].to_numpy() for c in BETA_COLUMNS[1:]])
    mu = alpha[school - 1, 0] + alpha[school - 1, 1] * lrt + alpha[school - 1, 2] * df["vr1"] + X @ beta
    df["Y"] = mu + rng.standard_normal(n) / np.sqrt(np.exp(theta + phi * lrt))
    df.attrs["R"] = np.array([[0.1, 0.005, 0.005], [0.005, 0.1, 0.005], [0.005, 0.005, 0.1]])
    return df, {"beta": beta, "alpha": alpha, "gamma": np.asarray(gamma), "theta": theta, "phi": phi}


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(11)
    df, truth = simulate_schools(rng, M=3, n_per=5)
    sampler = ls.SchoolsGibbs(df)
    state = sampler.initial_state(rng)
    state["T"] = np.array([[20.0, 1.0, -2.0], [1.0, 400.0, 3.0], [-2.0, 3.0, 30.0]])
    state["theta"], state["phi"] = 0.4, 0.02
    return df, sampler, state


def brute_force_design(df):
    """The full design of (beta, alpha) written out pupil by pupil with explicit loops."""
    M = df["school"].max()
    rows = []
    for _, p in df.iterrows():
        x = [p["LRT"] ** 2] + [p[c] for c in BETA_COLUMNS[1:]]
        z = np.zeros(3 * M)
        j = int(p["school"]) - 1
        z[3 * j:3 * j + 3] = [1.0, p["LRT"], p["vr1"]]
        rows.append(np.r_[x, z])
    return np.array(rows)


def test_beta_conditional_matches_brute_force(tiny):
    df, sampler, state = tiny
    D = brute_force_design(df)
    X, Zfull = D[:, :8], D[:, 8:]
    W = np.diag(np.exp(state["theta"] + state["phi"] * df["LRT"].to_numpy()))
    r = df["Y"].to_numpy() - Zfull @ state["alpha"].ravel()
    P_ref = X.T @ W @ X + np.eye(8) / PRIOR_SD**2
    mean_ref = np.linalg.inv(P_ref) @ X.T @ W @ r
    P, b = sampler.beta_conditional(state)
    np.testing.assert_allclose(P, P_ref, rtol=1e-10)
    np.testing.assert_allclose(np.linalg.solve(P, b), mean_ref, rtol=1e-8, atol=1e-10)


def test_alpha_conditional_matches_brute_force(tiny):
    df, sampler, state = tiny
    D = brute_force_design(df)
    X, Zfull = D[:, :8], D[:, 8:]
    W = np.diag(np.exp(state["theta"] + state["phi"] * df["LRT"].to_numpy()))
    r = df["Y"].to_numpy() - X @ state["beta"]
    M = sampler.M
    prior_P = np.kron(np.eye(M), state["T"])
    P_ref = Zfull.T @ W @ Zfull + prior_P
    mean_ref = np.linalg.solve(P_ref, Zfull.T @ W @ r + prior_P @ np.tile(state["gamma"], M))
    P, b = sampler.alpha_conditional(state)
    for j in range(M):
        np.testing.assert_allclose(P[j], P_ref[3 * j:3 * j + 3, 3 * j:3 * j + 3], rtol=1e-10)
    np.testing.assert_allclose(np.linalg.solve(P, b[..., None])[..., 0].ravel(), mean_ref, rtol=1e-8)


def test_gamma_and_T_conditionals_match_brute_force(tiny):
    _, sampler, state = tiny
    alpha, T = state["alpha"], state["T"]
    # gamma: prior N(0, 100^2 I) times prod_j N(alpha_j | gamma, T^-1)
    P_ref = len(alpha) * T + np.eye(3) / PRIOR_SD**2
    P, b = sampler.gamma_conditional(state)
    np.testing.assert_allclose(P, P_ref)
    np.testing.assert_allclose(np.linalg.solve(P, b), np.linalg.solve(P_ref, T @ alpha.sum(axis=0)))
    # T: BUGS Wishart(R, 3) prior density |T|^0 exp(-tr(R T)/2) times the normal terms
    dof, scale = sampler.T_conditional(state)
    S = sum(np.outer(a - state["gamma"], a - state["gamma"]) for a in alpha)
    assert dof == 3 + len(alpha)
    np.testing.assert_allclose(np.linalg.inv(scale), sampler.R + S)


def test_draws_have_the_conditional_moments(tiny):
    _, sampler, state = tiny
    rng = np.random.default_rng(5)
    P, b = sampler.gamma_conditional(state)
    n = 20000
    # batched: n copies of the same precision matrix in one call
    draws = ls.mvn_from_precision(rng, np.broadcast_to(P, (n, 3, 3)), np.broadcast_to(b, (n, 3)))
    cov = np.linalg.inv(P)
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(draws.mean(0) - np.linalg.solve(P, b)) < 5 * sd / np.sqrt(n))
    # sampling sd of a covariance estimate: sqrt((S_ii S_jj + S_ij^2) / n)
    se_cov = np.sqrt((np.outer(sd**2, sd**2) + cov**2) / n)
    assert np.all(np.abs(np.cov(draws.T) - cov) < 5 * se_cov)
    # one matrix at a time (LAPACK directly): the same moments
    n = 8000
    draws = np.array([ls.mvn_from_precision(rng, P, b) for _ in range(n)])
    assert np.all(np.abs(draws.mean(0) - np.linalg.solve(P, b)) < 5 * sd / np.sqrt(n))
    assert np.all(np.abs(np.cov(draws.T) - cov) < 5 * np.sqrt((np.outer(sd**2, sd**2) + cov**2) / n))
    dof, scale = sampler.T_conditional(state)
    n = 4000
    Ts = np.array([ls.wishart_draw(rng, dof, scale) for _ in range(n)])
    # Wishart moments: E W = dof * V, Var W_ij = dof (V_ij^2 + V_ii V_jj)
    se_T = np.sqrt(dof * (scale**2 + np.outer(np.diag(scale), np.diag(scale))) / n)
    assert np.all(np.abs(Ts.mean(0) - dof * scale) < 5 * se_T)


@pytest.mark.parametrize("m, k", [(38, 3), (5, 2), (3, 4), (1, 1)])
def test_cholesky_blocks_solve_each_block(m, k):
    from hbm.school_rankings.gibbs import cholesky_blocks, solve_blocks

    rng = np.random.default_rng(m + k)
    X = rng.standard_normal((m, k, k + 2))
    A = X @ np.swapaxes(X, 1, 2) + 0.1 * np.eye(k)
    L = np.linalg.cholesky(A)
    L_band = cholesky_blocks(A)
    B = rng.standard_normal((m, k, 4))
    np.testing.assert_allclose(solve_blocks(L_band, B.reshape(-1, 4)).reshape(m, k, 4),
                               np.linalg.solve(L, B), rtol=1e-9, atol=1e-12)
    b = rng.standard_normal((m, k))
    np.testing.assert_allclose(solve_blocks(L_band, b.ravel(), transposed=True).reshape(m, k),
                               np.linalg.solve(np.swapaxes(L, 1, 2), b[..., None])[..., 0], rtol=1e-9, atol=1e-12)


def test_T_update_has_the_wishart_moments_of_its_conditional(tiny):
    """The sweep draws T from the Cholesky factor of the scale's inverse, not through
    wishart_draw: its draws have the moments of T_conditional. The schools' deviations are
    correlated, so the scale is far from diagonal and a transposed factor would show."""
    _, sampler, state = tiny
    state = dict(state, alpha=state["gamma"] + np.outer([1.0, -0.5, 0.8], [0.6, 0.3, -0.4]))
    dof, scale = sampler.T_conditional(state)
    rng = np.random.default_rng(6)
    n = 4000
    Ts = np.array([sampler.update_T(rng, state) for _ in range(n)])
    var = dof * (scale**2 + np.outer(np.diag(scale), np.diag(scale)))
    assert np.all(np.abs(Ts.mean(0) - dof * scale) < 5 * np.sqrt(var / n))
    assert np.all(np.abs(Ts.var(0) / var - 1) < 0.15)


def test_cholesky_blocks_names_a_block_that_is_not_positive_definite():
    from hbm.school_rankings.gibbs import cholesky_blocks

    A = np.tile(np.eye(3), (6, 1, 1))
    A[4, 1, 1] = -1.0
    with pytest.raises(np.linalg.LinAlgError, match="block 4 "):
        cholesky_blocks(A)


def test_tau_density_is_the_normal_log_likelihood(tiny):
    from scipy import stats

    df, sampler, state = tiny
    e = sampler.residual(state)
    for theta, phi in [(0.4, 0.02), (-0.3, 0.05)]:
        sd = 1 / np.sqrt(np.exp(theta + phi * sampler.lrt))
        ref = (stats.norm.logpdf(e, 0, sd).sum() + stats.norm.logpdf([theta, phi], 0, PRIOR_SD).sum())
        ref0 = (stats.norm.logpdf(e, 0, 1).sum() + stats.norm.logpdf([0, 0], 0, PRIOR_SD).sum())
        got = sampler.log_tau_density(theta, phi, e**2) - sampler.log_tau_density(0.0, 0.0, e**2)
        assert got == pytest.approx(ref - ref0, rel=1e-10)


def dense_location_posterior(sampler, state):
    """Mean and covariance of (beta, gamma, alpha) given T, theta, phi, from their joint precision
    written out in full (pupils in the sampler's order)."""
    M, N = sampler.M, sampler.N
    A = np.zeros((N, 11 + 3 * M))
    A[:, :8] = sampler.X
    A[np.arange(N)[:, None], 11 + 3 * sampler.school[:, None] + np.arange(3)] = sampler.Z
    w = sampler.precision(state)
    Q = A.T @ (w[:, None] * A)
    Q[:11, :11] += np.eye(11) / PRIOR_SD**2
    T = state["T"]
    Q[8:11, 8:11] += M * T
    for j in range(M):      # (alpha_j - gamma)' T (alpha_j - gamma)
        a = slice(11 + 3 * j, 14 + 3 * j)
        Q[a, a] += T
        Q[a, 8:11] -= T
        Q[8:11, a] -= T
    cov = np.linalg.inv(Q)
    return cov @ (A.T @ (w * sampler.y)), cov


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(21)
    df, _ = simulate_schools(rng, M=5, n_per=30)
    sampler = ls.SchoolsGibbs(df)
    state = sampler.initial_state(rng)
    state["T"] = np.array([[20.0, 1.0, -2.0], [1.0, 400.0, 3.0], [-2.0, 3.0, 30.0]])
    state["theta"], state["phi"] = 0.4, 0.02
    return df, sampler, state


@pytest.mark.parametrize("scores", ["continuous", "whole numbers"])
def test_sufficient_statistics_match_sums_over_pupils(small, scores):
    """Both ways of storing the precomputed sums: sparse for a continuous score in many schools
    (every pupil's score distinct), dense for few distinct scores, as in the London data."""
    rng = np.random.default_rng(22)
    df, _ = simulate_schools(rng, M=12, n_per=12)
    if scores == "whole numbers":
        df["LRT"] = df["LRT"].round()
    sampler = ls.SchoolsGibbs(df)
    assert sparse.issparse(sampler._G) == (scores == "continuous")
    state = {**small[2], "alpha": sampler.initial_state(rng)["alpha"]}
    D = np.column_stack([sampler.Z, sampler.X, sampler.y])
    v = np.exp(state["phi"] * sampler.lrt)
    S_ref = np.zeros((sampler.M, 12, 12))
    for p in range(sampler.N):
        S_ref[sampler.school[p]] += v[p] * np.outer(D[p], D[p])
    np.testing.assert_allclose(sampler.school_stats(state["phi"]), S_ref, rtol=1e-12, atol=1e-12)
    e2 = sampler.residual(state) ** 2
    moments, weighted_sse = sampler.residual_sums(state)
    np.testing.assert_allclose(moments, [np.sum(sampler.lrt**k * e2) for k in range(3)], rtol=1e-10)
    for phi in (0.0, -0.03, 0.05):
        assert weighted_sse(phi) == pytest.approx(np.exp(phi * sampler.lrt) @ e2, rel=1e-10)


def test_weighted_sums_near_and_far_from_phi_zero(london):
    """The sweep's weighted sums at phi come from the Taylor series of exp(phi LRT) when
    |phi| max|LRT| <= SERIES_RADIUS and from the weights themselves further out: on each side of
    the radius, and at the posterior's phi (about -0.0015), they are the sums over the pupils to
    a few units of rounding."""
    from hbm.school_rankings.gibbs import SERIES_RADIUS

    sampler = ls.SchoolsGibbs(london)
    D = np.column_stack([sampler.Z, sampler.X, sampler.y])
    outer = (D[:, :, None] * D[:, None, :]).reshape(sampler.N, 144)
    scale = np.abs(sampler.lrt).max()
    for x in (0.0, 1e-7, 0.055, 0.4, 0.999 * SERIES_RADIUS, 1.001 * SERIES_RADIUS, 2.5):
        for phi in (x / scale, -x / scale):
            v = np.exp(phi * sampler.lrt)
            S_ref, S_abs = np.zeros((sampler.M, 144)), np.zeros((sampler.M, 144))
            np.add.at(S_ref, sampler.school, v[:, None] * outer)
            np.add.at(S_abs, sampler.school, v[:, None] * np.abs(outer))
            S = sampler.school_stats(phi).reshape(sampler.M, 144)
            assert np.all(np.abs(S - S_ref) <= 1e-14 * S_abs), phi
            xgy = np.r_[3:11, 11]                  # the all-pupil totals (X, 0, y) of the block step
            total = sampler._weighted_products(phi)[1].reshape(12, 12)[np.ix_(np.r_[0:8, 11], np.r_[0:8, 11])]
            ref = S_ref.sum(0).reshape(12, 12)[np.ix_(xgy, xgy)]
            assert np.all(np.abs(total - ref) <= 1e-14 * S_abs.sum(0).reshape(12, 12)[np.ix_(xgy, xgy)]), phi


def test_location_conditional_is_the_dense_marginal(small):
    _, sampler, state = small
    mean, cov = dense_location_posterior(sampler, state)
    P, b = sampler.location_conditional(state)
    np.testing.assert_allclose(np.linalg.inv(P), cov[:11, :11], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(np.linalg.solve(P, b), mean[:11], rtol=1e-7, atol=1e-10)


def test_location_block_draws_have_the_joint_moments(small):
    _, sampler, state = small
    mean, cov = dense_location_posterior(sampler, state)
    rng = np.random.default_rng(8)
    n = 3000
    draws = np.empty((n, len(mean)))
    for i in range(n):
        s = dict(state)
        sampler.update_location(rng, s)
        draws[i] = np.r_[s["beta"], s["gamma"], s["alpha"].ravel()]
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * sd / np.sqrt(n))
    assert np.all(np.abs(draws.std(0) / sd - 1) < 5 * np.sqrt(0.5 / n))


def test_theta_phi_block_leaves_its_conditional_invariant(small):
    """Many independence Metropolis-Hastings steps with the residuals held fixed: the draws of
    (theta, phi) have the moments of their full conditional, computed on a grid."""
    _, sampler, state = small
    e2 = sampler.residual(state) ** 2
    m, Q = sampler.tau_proposal(sampler.residual_sums(state)[0])
    sd = 1 / np.sqrt(np.diag(Q))
    th, ph = (np.linspace(c - 10 * s, c + 10 * s, 301) for c, s in zip(m, sd))
    q = np.exp(ph[:, None] * sampler.lrt) @ e2
    logp = np.array([[sampler._log_tau(t, f, qf) for t in th] for f, qf in zip(ph, q)])
    p = np.exp(logp - logp.max())
    p /= p.sum()
    grid = {"theta": (th[None, :], p), "phi": (ph[:, None], p)}
    rng = np.random.default_rng(9)
    s = dict(state)
    n = 4000
    draws = {"theta": np.empty(n), "phi": np.empty(n)}
    accepted = 0
    for i in range(n):
        accepted += sampler.update_tau_joint(rng, s)[0]
        draws["theta"][i], draws["phi"][i] = s["theta"], s["phi"]
    assert accepted / n > 0.5
    for name, (x, w) in grid.items():
        mu = (x * w).sum()
        sigma = np.sqrt(((x - mu) ** 2 * w).sum())
        assert abs(draws[name].mean() - mu) < 5 * sigma / np.sqrt(accepted), name
        assert abs(draws[name].std() / sigma - 1) < 0.1, name


def test_sampler_reproduces_its_seed(small):
    df = small[0]
    runs = [ls.sample_gibbs(df, random_seed=seed, draws=30, tune=10, chains=2, blocked=blocked)
            for blocked in (True, False) for seed in (6, 6, 7)]
    for i in (0, 3):
        for name in ("beta", "alpha", "T", "theta"):
            a, b, c = (runs[i + k].posterior[name].values for k in range(3))
            np.testing.assert_array_equal(a, b)
            assert not np.array_equal(a, c)


@pytest.mark.parametrize("blocked", [True, False])
def test_short_run_recovers_the_truth(blocked):
    rng = np.random.default_rng(3)
    df, truth = simulate_schools(rng, M=12, n_per=150)
    idata = ls.sample_gibbs(df, random_seed=4, draws=600, tune=300, chains=2, blocked=blocked)
    post = idata.posterior
    for name in ("theta", "phi"):
        v = post[name].values.ravel()
        assert abs(v.mean() - truth[name]) < 4 * v.std(), name
    beta = post["beta"].values.reshape(-1, 8)
    z = (beta.mean(0) - truth["beta"]) / beta.std(0)
    assert np.all(np.abs(z) < 4), z
    alpha = post["alpha"].values.reshape(-1, 12, 3)
    # the school intercepts net of the school-level covariates are what the data pin down
    covered = np.mean(np.abs(alpha.mean(0)[:, 1] - truth["alpha"][:, 1]) < 3 * alpha.std(0)[:, 1])
    assert covered >= 0.8
    # random-walk steps tuned towards 44% acceptance; the blocked sweep's independence proposal
    # fits the conditional of (theta, phi), so it accepts most proposals
    accept = idata.sample_stats["accept_theta"].mean()
    assert 0.8 < accept if blocked else 0.2 < accept < 0.7


def test_bad_arguments_raise():
    df, _ = simulate_schools(np.random.default_rng(0), M=3, n_per=4)
    with pytest.raises(ValueError, match="draws"):
        ls.sample_gibbs(df, random_seed=1, draws=0)
    with pytest.raises(TypeError, match="random_seed"):
        ls.sample_gibbs(df, random_seed=1.5)


# --- models, ranks, published tables ---


@pytest.fixture(scope="module")
def london():
    return hbm.data.load("london_schools")


@pytest.mark.parametrize("kind", ["bugs_marginal", "bugs_joint", "lkj_marginal", "lkj_joint"])
def test_models_build_and_evaluate_at_the_initial_point(london, kind):
    model = {"bugs_marginal": lambda: ls.build_bugs_model(london),
             "bugs_joint": lambda: ls.build_bugs_model(london, marginalise_alpha=False),
             "lkj_marginal": lambda: ls.build_lkj_model(london),
             "lkj_joint": lambda: ls.build_lkj_model(london, marginalise_alpha=False)}[kind]()
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


def test_coefficients_sampled_per_covariate_sd_keep_the_model(london):
    """The sampler's coordinates are coefficient x covariate sd; the density of the coefficients is
    still the BUGS Normal(0, sd 100), and a start jittered by up to 1 per coordinate stays sane."""
    from scipy import stats

    model = ls.build_bugs_model(london)
    d = ls.validate_schools(london)
    values = model.compile_fn(model.unobserved_value_vars, inputs=model.value_vars, on_unused_input="ignore")
    names = [v.name for v in model.unobserved_value_vars]
    point = {k: v + 1.0 for k, v in model.initial_point().items()}       # the jitter's extreme
    out = dict(zip(names, values(point)))
    np.testing.assert_allclose(out["phi"], 1.0 / d["lrt"].std())
    np.testing.assert_allclose(out["beta"], 1.0 / d["X"].std(0))
    np.testing.assert_allclose(out["gamma"], [1.0, 1.0 / d["Z"][:, 1].std(), 1.0 / d["Z"][:, 2].std()])
    coefs = [model["beta"], model["gamma"], model["phi"]]
    logp = model.compile_fn(model.logp(vars=coefs, jacobian=False), inputs=model.value_vars,
                            on_unused_input="ignore")(point)
    expected = stats.norm(0, 100).logpdf(np.r_[out["beta"], out["gamma"], out["phi"]]).sum()
    np.testing.assert_allclose(logp, expected, rtol=1e-6)   # a Jacobian term would be off by ~1
    # the largest pupil log precision at that start: theta + phi LRT stays within a few units
    assert np.max(np.abs(out["theta"] + out["phi"] * d["lrt"])) < 5


def test_wishart_model_log_det_in_closed_form(london):
    """The Wishart model's marginal likelihood takes log|T| from the Bartlett factors; at a point
    away from the initial one it equals the covariance form, whose F = chol(T^-1) is computed
    numerically from T."""
    from hbm.school_rankings.marginal import marginal_loglik

    model = ls.build_bugs_model(london)
    d = ls.validate_schools(london)
    rng = np.random.default_rng(3)
    point = {k: v + rng.uniform(-1, 1, np.shape(v)) for k, v in model.initial_point().items()}
    names = ["Y_marginal", "T", "beta", "gamma", "theta", "phi"]
    values = model.compile_fn(model.replace_rvs_by_values([model[n] for n in names]), inputs=model.value_vars,
                              on_unused_input="ignore")
    got, T, beta, gamma, theta, phi = values(point)
    F = np.linalg.cholesky(np.linalg.inv(T))
    assert got == pytest.approx(marginal_loglik(d, gamma, beta, F, theta, phi).eval(), rel=1e-9)


def test_bartlett_prior_has_the_bugs_wishart_mean(london, draw_at_once):
    """T ~ Wishart(R, 3) in BUGS means E[T] = 3 R^-1: check by prior simulation."""
    model = ls.build_bugs_model(london)
    T = draw_at_once(model, model["T"], 4000, random_seed=1)
    assert T.shape == (4000, 3, 3)
    expected = 3 * np.linalg.inv(london.attrs["R"])
    # Var T_ij = df (V_ij^2 + V_ii V_jj) with V = R^-1
    V = np.linalg.inv(london.attrs["R"])
    se = np.sqrt(3 * (V**2 + np.outer(np.diag(V), np.diag(V))) / T.shape[0])
    assert np.all(np.abs(T.mean(0) - expected) < 5 * se)


def test_design_maps_beta_to_the_bugs_covariates(london):
    d = ls.validate_schools(london)
    np.testing.assert_allclose(d["X"][:, 0], london["LRT"] ** 2)
    np.testing.assert_allclose(d["X"][:, 1], london["vr2"])
    np.testing.assert_allclose(d["X"][:, 5:], london[["church_of_england", "roman_catholic", "other_denomination"]])
    np.testing.assert_allclose(d["Z"][:, 2], london["vr1"])
    assert d["school"].min() == 0 and d["M"] == 38


def test_bad_input_raises(london):
    with pytest.raises(ValueError, match="LRT"):
        ls.validate_schools(london.drop(columns="LRT"))
    bad = london.copy()
    bad.loc[4, "Y"] = np.nan
    with pytest.raises(ValueError, match=r"column 'Y', row 5"):
        ls.validate_schools(bad)
    bad = london.copy()
    bad.attrs["R"] = np.eye(2)
    with pytest.raises(ValueError, match="Wishart"):
        ls.build_bugs_model(bad)
    gap = london[london["school"] != 3]
    gap.attrs = london.attrs
    with pytest.raises(ValueError, match=r"school\(s\) \[3\]"):
        ls.validate_schools(gap)
    with pytest.raises(ValueError, match="eta"):
        ls.build_lkj_model(london, eta=0)


def test_validate_schools_returns_copies(london):
    d = ls.validate_schools(london)
    d["y"][0] += 100.0
    d["R"][0, 0] += 1.0
    assert london["Y"].iloc[0] != d["y"][0] and london.attrs["R"][0, 0] != d["R"][0, 0]


def test_lkj_priors_are_user_settable_in_the_book_s_shape(london):
    default = ls.build_lkj_model(london)
    assert "sigma_alpha" in default.named_vars and "sigma_LRT" not in default.named_vars
    mixed = ls.build_lkj_model(london, priors={"sigma_LRT": {"dist": "Exponential", "lam": 10.0}})
    assert {"sigma_intercept", "sigma_LRT", "sigma_vr1"} <= set(mixed.named_vars)
    point = mixed.initial_point()
    sd = mixed.compile_fn(mixed["sigma_alpha"], inputs=mixed.value_vars, on_unused_input="ignore")(point)
    assert sd.shape == (3,) and np.all(sd > 0)
    narrower = ls.build_lkj_model(london, priors={"sigma_LRT": {"dist": "HalfNormal", "sigma": 0.05}})
    assert narrower.compile_logp()(narrower.initial_point()) != default.compile_logp()(default.initial_point())
    with pytest.raises(ValueError, match="unknown prior"):
        ls.build_lkj_model(london, priors={"sigma_slope": {"dist": "HalfNormal", "sigma": 1.0}})
    with pytest.raises(ValueError, match="scale"):
        ls.build_lkj_model(london, priors={"sigma_LRT": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})


def test_benchmark_model_is_the_wishart_model():
    model, description = ls.benchmark_model()
    assert "bartlett_c2" in model.named_vars and "Y_marginal" in model.named_vars
    assert isinstance(description, str) and "Wishart" in description


def hand_made_posterior(values):
    """alpha of dims (chain, draw, school, coef) from per-draw intercepts."""
    values = np.asarray(values, float)           # (draws, schools)
    alpha = np.zeros((1, values.shape[0], values.shape[1], 3))
    alpha[0, :, :, 0] = values
    return az.from_dict(posterior={"alpha": alpha}, coords={"school": ["A", "B", "C", "D"], "coef": ls.ALPHA_COLUMNS},
                        dims={"alpha": ["school", "coef"]})


def test_school_ranks_on_a_hand_made_posterior():
    # D is always best, A always worst; B and C swap places in one draw of four.
    idata = hand_made_posterior([[0.0, 1.0, 2.0, 3.0],
                                 [0.0, 1.0, 2.0, 3.0],
                                 [0.0, 1.0, 2.0, 3.0],
                                 [0.0, 2.0, 1.0, 3.0]])
    table = ls.school_ranks(idata)
    assert list(table["school"]) == ["D", "C", "B", "A"]
    np.testing.assert_allclose(table["mean_rank"], [1.0, 2.25, 2.75, 4.0])
    row = table.set_index("school")
    assert row.loc["C", "median_rank"] == 2.0 and row.loc["B", "median_rank"] == 3.0
    assert (row.loc["C", "lower"], row.loc["C", "upper"]) == (2, 3)
    assert (row.loc["D", "lower"], row.loc["D", "upper"]) == (1, 1)
    draws = ls.rank_draws(idata)
    assert draws.shape == (4, 4) and np.all(np.sort(draws.to_numpy(), axis=1) == [1, 2, 3, 4])


def test_school_ranks_rejects_bad_arguments():
    idata = hand_made_posterior([[0.0, 1.0, 2.0, 3.0]] * 2)
    with pytest.raises(ValueError, match="prob"):
        ls.school_ranks(idata, prob=1.5)
    with pytest.raises(ValueError, match="no variable"):
        ls.school_ranks(idata, var_name="beta")
    with pytest.raises(ValueError, match="InferenceData"):
        ls.rank_draws(idata.posterior)


def test_compare_with_published_on_a_posterior_at_the_published_means():
    published = hbm.data.load("london_published")
    pub = published[published["source"] == "OpenBUGS-3.2.3"].set_index("node")
    rng = np.random.default_rng(0)
    n = 4000
    draw = {node: pub.loc[node, "mean"] + pub.loc[node, "sd"] * rng.standard_normal(n) for node in ls.NODES}
    posterior = {"beta": np.stack([draw[f"beta[{k}]"] for k in range(1, 9)], -1)[None],
                 "gamma": np.stack([draw[f"gamma[{k}]"] for k in range(1, 4)], -1)[None],
                 "theta": draw["theta"][None], "phi": draw["phi"][None]}
    table = ls.compare_with_published(az.from_dict(posterior=posterior), published)
    assert list(table.index) == ls.NODES
    assert np.all(np.abs(table["z"]) < 0.1)
    np.testing.assert_allclose(table["sd"] / table["bugs_sd"], 1, atol=0.05)
    with pytest.raises(ValueError, match="source"):
        ls.compare_with_published(az.from_dict(posterior=posterior), published, source="WinBUGS")


@pytest.mark.parametrize("scores", ["continuous", "few"])
def test_marginal_likelihood_matches_the_multivariate_normal_of_each_school(scores):
    """Integrating alpha out must give y_j ~ N(X beta + Z gamma, Z T^-1 Z' + W^-1) per school, with
    the per-school sums taken over the pupils (continuous scores) or over the distinct scores."""
    from scipy import stats

    from hbm.school_rankings.marginal import marginal_loglik, marginal_loglik_precision

    rng = np.random.default_rng(2)
    df, _ = simulate_schools(rng, M=4, n_per=6)
    if scores == "few":
        df["LRT"] = 10 * np.round(df["LRT"] / 10)       # a handful of distinct values for 24 pupils
    d = ls.validate_schools(df)
    assert (3 * len(np.unique(d["lrt"])) <= len(d["y"])) == (scores == "few")
    beta, gamma = rng.normal(0, 0.1, 8), np.array([-0.4, 0.02, 0.8])
    A = rng.normal(size=(3, 3))
    T = A @ A.T + 3 * np.eye(3)
    theta, phi = 0.5, 0.03
    F = np.linalg.cholesky(np.linalg.inv(T))
    got = marginal_loglik(d, gamma, beta, F, theta, phi).eval()
    ref = 0.0
    for j in range(d["M"]):
        rows = d["school"] == j
        Z, X = d["Z"][rows], d["X"][rows]
        cov = Z @ np.linalg.inv(T) @ Z.T + np.diag(np.exp(-(theta + phi * d["lrt"][rows])))
        ref += stats.multivariate_normal(X @ beta + Z @ gamma, cov).logpdf(d["y"][rows])
    assert got == pytest.approx(ref, rel=1e-9)
    logdet_T = np.linalg.slogdet(T)[1]
    assert marginal_loglik_precision(d, gamma, beta, T, theta, phi, logdet_T).eval() == pytest.approx(ref, rel=1e-9)


def test_school_sums_over_scores_equal_the_sums_over_pupils(london):
    """The two ways of summing ``A_j = Z_j' W_j Z_j`` and ``b_j = Z_j' W_j r_j`` agree on the London
    data (70 distinct scores for 1978 pupils), at parameters away from zero."""
    import pytensor.tensor as pt

    from hbm.school_rankings.marginal import _sums_over_pupils, _sums_over_scores

    d = ls.validate_schools(london)
    rng = np.random.default_rng(3)
    beta, gamma = rng.normal(0, 0.05, 8) / d["X"].std(0), rng.normal(0, 0.5, 3)
    theta, phi = 0.6, -0.02
    w = np.exp(theta + phi * d["lrt"])
    r = d["y"] - d["X"] @ beta - d["Z"] @ gamma
    A_p, b_p = (x.eval() for x in _sums_over_pupils(d, pt.as_tensor(w), pt.as_tensor(r)))
    A_s, b_s = (x.eval() for x in _sums_over_scores(d, pt.as_tensor(gamma), pt.as_tensor(beta), theta, phi))
    assert A_p.shape == A_s.shape == (38, 3, 3) and b_p.shape == b_s.shape == (38, 3)
    np.testing.assert_allclose(A_s, A_p, rtol=1e-10)
    np.testing.assert_allclose(b_s, b_p, rtol=1e-9, atol=1e-9 * np.abs(b_p).max())


def test_lkj_construction_has_the_lkj_prior_s_moments(london, draw_at_once):
    """The correlation matrix built from canonical partial correlations has the moments of LKJ(2).

    In 3 dimensions every marginal correlation of LKJ(eta=2) is 2 Beta(2.5, 2.5) - 1 (mean 0,
    variance 1/6), and the determinant is a product over the vine's independent partial
    correlations r, 2 Beta(b, b) - 1 with b = 2.5, 2.5 and 2, of 1 - r^2 (mean 2b / (2b + 1)):
    E det = (5/6)^2 (4/5) = 5/9. (PyMC's own LKJCorr gave 0.5561 +- 0.0012 over 40,000 draws; the
    LKJ(1) construction has variance 1/4 and E det = 3/8.)"""
    model = ls.build_lkj_model(london)
    ours = draw_at_once(model, model["corr"], 8000, random_seed=1)
    assert ours.shape == (8000, 3, 3)
    iu = ([0, 0, 1], [1, 2, 2])
    np.testing.assert_allclose(ours[:, iu[0], iu[1]].var(0), 1 / 6, atol=0.012)      # sd of the estimate 0.002
    np.testing.assert_allclose(ours[:, iu[0], iu[1]].mean(0), 0, atol=0.02)
    assert abs(np.linalg.det(ours).mean() - 5 / 9) < 0.01                             # sd of the estimate 0.0027


# --- the stored reference and the self-checks ---


def node_posterior(means, sds, *, shift=0.0, scale=1.0, n=4000, seed=0):
    """A posterior of the 13 nodes drawn from N(mean + shift * sd, (scale * sd)^2), node by node."""
    rng = np.random.default_rng(seed)
    d = {node: means[node] + sds[node] * (shift + scale * rng.standard_normal(n)) for node in ls.NODES}
    return az.from_dict(posterior={"beta": np.stack([d[f"beta[{k}]"] for k in range(1, 9)], -1).reshape(2, -1, 8),
                                   "gamma": np.stack([d[f"gamma[{k}]"] for k in range(1, 4)], -1).reshape(2, -1, 3),
                                   "theta": d["theta"].reshape(2, -1), "phi": d["phi"].reshape(2, -1)})


def shows_none_of(message: str, values) -> bool:
    """True when no value appears in the message at any usual precision (2+ significant digits)."""
    for v in np.atleast_1d(np.asarray(values, float)):
        for text in {f"{v:.2f}", f"{v:.3f}", f"{v:.4f}", f"{v:.3g}", f"{v:g}", f"{v:.2%}", f"{v:.1%}"}:
            if "." in text and len(text.lstrip("-0.").replace(".", "").rstrip("%0")) >= 2 and text in message:
                return False
    return True


@pytest.fixture(scope="module")
def reference():
    from hbm.school_rankings.reference import load_reference

    return load_reference()


@pytest.fixture(scope="module")
def published_openbugs():
    published = hbm.data.load("london_published")
    return published[published["source"] == "OpenBUGS-3.2.3"].set_index("node")


def test_stored_reference_agrees_with_both_published_runs(reference):
    published = hbm.data.load("london_published")
    for source in ("OpenBUGS-3.2.3", "MultiBUGS"):
        pub = published[published["source"] == source].set_index("node")
        for node in ls.NODES:
            ours = reference["nodes"][node]
            assert abs(ours["mean"] - pub.loc[node, "mean"]) < 0.2 * pub.loc[node, "sd"], (source, node)
            assert abs(ours["sd"] / pub.loc[node, "sd"] - 1) < 0.1, (source, node)
            assert ours["mcse_mean"] < 0.05 * ours["sd"], node
    ranks = np.array(list(reference["mean_rank"].values()))
    M = len(ranks)
    assert M == 38 and np.all((ranks >= 1) & (ranks <= M))
    assert ranks.sum() == pytest.approx(M * (M + 1) / 2)     # mean ranks of a permutation
    sd = reference["sd_slope_median"]
    assert 0 < sd["lkj"] < sd["wishart"]


def test_check_schools_posterior(published_openbugs):
    means, sds = published_openbugs["mean"], published_openbugs["sd"]
    assert checks.check_schools_posterior(node_posterior(means, sds))
    assert checks.check_schools_posterior(node_posterior(means, sds), source="MultiBUGS")
    for wrong in (node_posterior(means, sds, shift=0.5), node_posterior(means, sds, scale=1.5)):
        result = checks.check_schools_posterior(wrong)
        assert not result and shows_none_of(result.message, np.r_[means, sds]), result.message
    assert "could not read" in checks.check_schools_posterior(az.from_dict(posterior={"beta": np.zeros((1, 5, 8))})).message
    with pytest.raises(ValueError, match="source"):
        checks.check_schools_posterior(node_posterior(means, sds), source="WinBUGS")


def test_check_gibbs_agreement(reference):
    ref = pd.DataFrame(reference["nodes"]).T
    means, sds = ref["mean"], ref["sd"]
    assert checks.check_gibbs_agreement(node_posterior(means, sds, seed=1))
    # a sampler that uses the precision as a covariance gets the spread wrong; one with a biased
    # Metropolis step gets the location wrong: both are posteriors of the right shape
    for wrong in (node_posterior(means, sds, shift=-0.4, seed=2), node_posterior(means, sds, scale=0.6, seed=3)):
        result = checks.check_gibbs_agreement(wrong)
        assert not result and shows_none_of(result.message, np.r_[means, sds]), result.message
    assert not checks.check_gibbs_agreement("idata")


def test_check_school_ranks(reference):
    ref = pd.Series(reference["mean_rank"])
    rng = np.random.default_rng(4)
    right = pd.DataFrame({"school": ref.index.astype(int), "mean_rank": ref.to_numpy() + rng.uniform(-0.4, 0.4, len(ref))})
    right = right.sort_values("mean_rank").reset_index(drop=True)
    assert checks.check_school_ranks(right)
    assert checks.check_school_ranks(right.assign(school=right["school"].astype(str)))   # labels as text
    reversed_ = right.assign(mean_rank=len(ref) + 1 - right["mean_rank"])               # rank 1 = lowest
    swapped = right.copy()
    swapped.loc[[0, len(ref) - 1], "mean_rank"] = swapped.loc[[len(ref) - 1, 0], "mean_rank"].to_numpy()
    for wrong in (reversed_, swapped):
        result = checks.check_school_ranks(wrong)
        assert not result and shows_none_of(result.message, ref.to_numpy()), result.message
    assert "school(s)" in checks.check_school_ranks(swapped).message
    assert not checks.check_school_ranks(right.iloc[:-1])                                  # a school missing
    assert "twice" in checks.check_school_ranks(pd.concat([right, right.iloc[:1]])).message
    assert "DataFrame" in checks.check_school_ranks(right["mean_rank"]).message


def test_check_slope_sd(reference):
    wishart, lkj = reference["sd_slope_median"]["wishart"], reference["sd_slope_median"]["lkj"]
    assert checks.check_slope_sd(1.03 * wishart, 0.97 * lkj)
    for wrong in ((lkj, wishart), (wishart, 1.3 * lkj), (wishart**2, lkj**2)):   # swapped, off, variances
        result = checks.check_slope_sd(*wrong)
        assert not result and shows_none_of(result.message, [wishart, lkj]), result.message
    assert "10.0%" in checks.check_slope_sd(lkj, wishart).message or "10%" in checks.check_slope_sd(lkj, wishart).message


# --- the "debug this sampler" exercise (ls-ex-debug) and its self-check ---

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "05_school_rankings.ipynb"

# Each classic mistake alone, planted in the notebook's corrected sampler: (name, [correct
# text], [the text with the bug]). The notebook's buggy_schools_sampler makes all of them.
PLANTED_BUGS = [
    ("inverted Metropolis test",
     ["if np.log(rng.uniform()) < log_p(*proposal) - current:"],
     ["if np.log(rng.uniform()) > log_p(*proposal) - current:"]),
    ("inconsistent terms in the Metropolis ratio",
     ["current = log_p(theta, phi)"],
     ["current = -0.5 * np.sum(np.exp(theta + phi * lrt) * e2) - 0.5 * (theta**2 + phi**2) / 100**2"]),
    ("a density divided by a log density",
     ["if np.log(rng.uniform()) < log_p(*proposal) - current:"],
     ["if rng.uniform() < np.exp(log_p(*proposal)) / current:"]),
    ("untuned unit step", ["proposal[k] += step[k] * rng.standard_normal()"],
     ["proposal[k] += rng.standard_normal()"]),
    ("stale tau in the beta and alpha updates",
     ["        tau = np.exp(theta + phi * lrt)                 # the current theta and phi\n",
      "    draws = {"],
     ["", "    tau = np.exp(theta + phi * lrt)\n    draws = {"]),
    ("precision used as a covariance", ["np.linalg.solve(L.T, rng.standard_normal(len(b)))"],
     ["L @ rng.standard_normal(len(b))"]),
    ("beta's alpha term not weighted by tau", ["X.T @ (tau * (y - np.sum(Z * alpha[school], axis=1)))"],
     ["X.T @ (tau * y) - X.T @ np.sum(Z * alpha[school], axis=1)"]),
    ("VR[:, 1] as the band-1 column", ["Z = np.column_stack([np.ones(N), lrt, VR[:, 0]])"],
     ["Z = np.column_stack([np.ones(N), lrt, VR[:, 1]])"]),
    ("within-school index into the whole table", ["rows = school == j "],
     ["rows = np.arange(N) < np.sum(school == j) "]),
    ("gamma's prior precision from the starting covariance", ["M * T + 1e-4 * np.eye(3)"],
     ["M * T + np.linalg.inv(Sigma0)"]),
    ("Wishart with tr(R^-1 T)", ["scale=np.linalg.inv(R + S)"], ["scale=np.linalg.inv(np.linalg.inv(R) + S)"]),
    ("random walk on the entries of T",
     ["T = stats.wishart.rvs(df=3 + M, scale=np.linalg.inv(R + S), random_state=rng)"],
     ["T_new = T + 0.1 * rng.standard_normal((3, 3))\n"
      "        log_p_T = lambda T: (M - 1) / 2 * np.log(np.linalg.det(T)) - np.trace((R + S) @ T) / 2\n"
      "        T = T_new if np.log(rng.uniform()) < log_p_T(T_new) - log_p_T(T) else T"]),
]


def notebook_cell(cell_id: str) -> str:
    import json

    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return next("".join(c["source"]) for c in cells if c.get("id") == cell_id)


def define(source: str, name: str):
    from scipy import stats

    namespace = {"np": np, "ls": ls, "stats": stats}
    exec(source, namespace)
    return namespace[name]


@pytest.fixture(scope="module")
def corrected_source():
    return notebook_cell("ls-debug-fixed")


def test_exercise_data_and_stored_reference():
    from hbm.school_rankings import sampler_exercise as se

    df = se.exercise_data()
    d = ls.validate_schools(df)
    assert d["M"] == 10 and len(df) == 300
    df.attrs["R"][0, 0] = 99.0                     # a copy: the next call is unchanged
    assert se.exercise_data().attrs["R"][0, 0] == 0.1
    ref = se.exercise_reference()
    assert ref["quantities"] == se.QUANTITIES and np.all(ref["sd"] > 0)


def test_check_debugged_sampler_passes_the_corrected_sampler(corrected_source):
    sampler = define(corrected_source, "schools_sampler")
    for seed in (5050, 1, 2):
        result = checks.check_debugged_sampler(sampler, random_seed=seed)
        assert result, (seed, result.message)


@pytest.mark.parametrize("bug", PLANTED_BUGS, ids=[b[0] for b in PLANTED_BUGS])
def test_check_debugged_sampler_fails_each_planted_bug(corrected_source, bug):
    from hbm.school_rankings.sampler_exercise import exercise_reference

    name, good, bad = bug
    source = corrected_source
    for g, b in zip(good, bad):
        assert source.count(g) == 1, (name, g)
        source = source.replace(g, b)
    result = checks.check_debugged_sampler(define(source, "schools_sampler"))
    ref = exercise_reference()
    assert not result and shows_none_of(result.message, np.r_[ref["mean"], ref["sd"]]), result.message


def test_check_debugged_sampler_fails_the_book_s_buggy_sampler_and_bad_output(corrected_source):
    assert not checks.check_debugged_sampler(define(notebook_cell("ls-debug-buggy"), "buggy_schools_sampler"))
    sampler = define(corrected_source, "schools_sampler")
    assert "function" in checks.check_debugged_sampler("schools_sampler").message

    def without_T(df, *, n_sweeps, random_seed):
        return {k: v for k, v in sampler(df, n_sweeps=n_sweeps, random_seed=random_seed).items() if k != "T"}

    def transposed(df, *, n_sweeps, random_seed):
        draws = sampler(df, n_sweeps=n_sweeps, random_seed=random_seed)
        return {**draws, "beta": draws["beta"].T}

    assert "dict" in checks.check_debugged_sampler(without_T).message
    assert "shape" in checks.check_debugged_sampler(transposed).message


def test_gibbs_benchmark_reads_the_recorded_run_and_warns_without_it(tmp_path):
    import json

    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"date": "today", "sweep": {"speed_ratio": 80.0, "loop_ms": 60.0},
                                "gibbs": {"ess_per_cpu_second": 47.0}}))
    table = ls.gibbs_benchmark(path)
    assert table.loc["sweep speed-up, vectorised over loop", "value"] == 80.0
    assert np.isnan(table.loc["NUTS: smallest bulk ESS per CPU second", "value"])   # not recorded
    assert table.attrs["date"] == "today"
    with pytest.warns(UserWarning, match="bench_gibbs.py"):
        empty = ls.gibbs_benchmark(tmp_path / "missing.json")
    assert empty.index.equals(table.index) and empty["value"].isna().all()


def test_check_understanding():
    right = {"a": True, "b": False, "c": True, "d": False, "e": True, "f": False}
    assert checks.check_understanding(right)
    wrong = checks.check_understanding({**right, "d": True})   # "dwish(R, 3) has scale R"
    assert not wrong and "1 of the 6" in str(wrong) and "'d'" not in str(wrong)
    assert not checks.check_understanding({**right, "b": True, "f": True})
    assert not checks.check_understanding({k: v for k, v in right.items() if k != "f"})
    assert not checks.check_understanding({**right, "a": "yes"})
