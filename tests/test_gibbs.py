"""The hand-written Schools sampler: conjugate updates against brute force, and recovery of a truth."""

import numpy as np
import pandas as pd
import pytest

from hbm import gibbs
from hbm.rankings import BETA_COLUMNS, PRIOR_SD


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
    sampler = gibbs.SchoolsGibbs(df)
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
    draws = gibbs.mvn_from_precision(rng, np.broadcast_to(P, (n, 3, 3)), np.broadcast_to(b, (n, 3)))
    cov = np.linalg.inv(P)
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(draws.mean(0) - np.linalg.solve(P, b)) < 5 * sd / np.sqrt(n))
    # sampling sd of a covariance estimate: sqrt((S_ii S_jj + S_ij^2) / n)
    se_cov = np.sqrt((np.outer(sd**2, sd**2) + cov**2) / n)
    assert np.all(np.abs(np.cov(draws.T) - cov) < 5 * se_cov)
    dof, scale = sampler.T_conditional(state)
    n = 4000
    Ts = np.array([gibbs.wishart_draw(rng, dof, scale) for _ in range(n)])
    # Wishart moments: E W = dof * V, Var W_ij = dof (V_ij^2 + V_ii V_jj)
    se_T = np.sqrt(dof * (scale**2 + np.outer(np.diag(scale), np.diag(scale))) / n)
    assert np.all(np.abs(Ts.mean(0) - dof * scale) < 5 * se_T)


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


def test_short_run_recovers_the_truth():
    rng = np.random.default_rng(3)
    df, truth = simulate_schools(rng, M=12, n_per=150)
    idata = gibbs.sample_gibbs(df, random_seed=4, draws=600, tune=300, chains=2)
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
    assert 0.2 < idata.sample_stats["accept_theta"].mean() < 0.7


def test_bad_arguments_raise():
    df, _ = simulate_schools(np.random.default_rng(0), M=3, n_per=4)
    with pytest.raises(ValueError, match="draws"):
        gibbs.sample_gibbs(df, random_seed=1, draws=0)
    with pytest.raises(TypeError, match="random_seed"):
        gibbs.sample_gibbs(df, random_seed=1.5)
