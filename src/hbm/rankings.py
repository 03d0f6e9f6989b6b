"""Chapter 5: the BUGS "Schools" model of London examination results, and school rankings.

The model (Goldstein et al. 1993; BUGS Examples Vol. 2 "Schools"), for pupil ``p`` in school ``j``::

    Y[p] ~ Normal(mu[p], precision tau[p])
    mu[p] = alpha[j,1] + alpha[j,2] LRT[p] + alpha[j,3] VR1[p] + X[p] @ beta
    log tau[p] = theta + phi LRT[p]
    alpha[j, 1:3] ~ MVNormal(gamma, precision T),   T ~ Wishart(R, 3)   (BUGS: E[T] = 3 R^-1)
    beta, gamma, theta, phi ~ Normal(0, sd 100)

where ``X`` holds the eight pupil- and school-level covariates of :data:`BETA_COLUMNS`
(``beta[1..8]`` in BUGS).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.slinalg import solve_triangular

BETA_COLUMNS = ["LRT2", "vr2", "girl", "girls_school", "boys_school",
                "church_of_england", "roman_catholic", "other_denomination"]
"""The covariates of ``beta[1..8]`` in BUGS order: LRT^2, VR band 2, girl, girls' school, boys' school,
Church of England, Roman Catholic, other denomination."""

ALPHA_COLUMNS = ["intercept", "LRT", "vr1"]
"""The school-specific coefficients ``alpha[j, 1..3]``: intercept, LRT slope, VR band 1."""

PRIOR_SD = 100.0
"""Standard deviation of the vague normal priors (BUGS: precision 1e-4)."""

WISHART_DF = 3
"""Degrees of freedom of the Wishart prior on the precision matrix ``T``."""

NODES = [f"beta[{k}]" for k in range(1, 9)] + [f"gamma[{k}]" for k in range(1, 4)] + ["phi", "theta"]
"""The 13 BUGS nodes of the published table."""

_REQUIRED = ["school", "Y", "LRT", "vr1", "vr2", "girl", "girls_school", "boys_school",
             "church_of_england", "roman_catholic", "other_denomination"]


def design(df: pd.DataFrame) -> dict:
    """Arrays of the Schools model from the pupil table of :func:`hbm.data.load_london_schools`.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per pupil with the columns of the loader and ``df.attrs["R"]``.

    Returns
    -------
    dict
        ``y`` (N,), ``lrt`` (N,), ``X`` (N, 8) for ``beta``, ``Z`` (N, 3) for ``alpha``,
        ``school`` (N,) 0-based index, ``M`` number of schools, ``R`` (3, 3).
    """
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"the pupil table lacks the column(s) {missing}")
    R = np.asarray(df.attrs.get("R", np.nan), dtype=float)
    if R.shape != (3, 3) or not np.all(np.isfinite(R)):
        raise ValueError('df.attrs["R"] must be the 3x3 Wishart scale matrix')
    if not np.allclose(R, R.T) or np.any(np.linalg.eigvalsh(R) <= 0):
        raise ValueError('df.attrs["R"] must be symmetric positive definite')
    values = df[_REQUIRED].to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError("the pupil table contains missing or infinite values")
    school = df["school"].to_numpy()
    M = int(school.max())
    if school.min() < 1 or np.any(np.bincount(school, minlength=M + 1)[1:] == 0):
        raise ValueError("'school' must number the schools 1..M, each with at least one pupil")
    lrt = df["LRT"].to_numpy(dtype=float)
    X = np.column_stack([lrt**2] + [df[c].to_numpy(dtype=float) for c in BETA_COLUMNS[1:]])
    Z = np.column_stack([np.ones_like(lrt), lrt, df["vr1"].to_numpy(dtype=float)])
    return {"y": df["Y"].to_numpy(dtype=float), "lrt": lrt, "X": X, "Z": Z,
            "school": school - 1, "M": M, "R": R}


def _coords(M: int) -> dict:
    return {"school": np.arange(1, M + 1), "coef": ALPHA_COLUMNS, "covariate": BETA_COLUMNS,
            "coef_bis": ALPHA_COLUMNS}


def _likelihood(d: dict, alpha, beta, theta, phi):
    s = d["school"]
    mu = (alpha[s, 0] + alpha[s, 1] * d["lrt"] + alpha[s, 2] * d["Z"][:, 2]
          + pt.dot(d["X"], beta))
    pm.Normal("Y", mu=mu, tau=pt.exp(theta + phi * d["lrt"]), observed=d["y"], dims="pupil")


def _segment_sum(onehot: np.ndarray, v):
    """Per-school sums of the pupil rows of ``v`` (``onehot`` is the (M, N) school indicator)."""
    return pt.dot(onehot, v)


def _chol3(P):
    """Cholesky factor entries of a batch of 3x3 SPD matrices (closed form, differentiable)."""
    l11 = pt.sqrt(P[:, 0, 0])
    l21, l31 = P[:, 1, 0] / l11, P[:, 2, 0] / l11
    l22 = pt.sqrt(P[:, 1, 1] - l21**2)
    l32 = (P[:, 2, 1] - l31 * l21) / l22
    l33 = pt.sqrt(P[:, 2, 2] - l31**2 - l32**2)
    return l11, l21, l31, l22, l32, l33


def _school_terms(d: dict, gamma, beta, theta, phi):
    """Pupil-level log density of the residuals, and per school ``A_j = Z_j' W_j Z_j`` and
    ``b_j = Z_j' W_j r_j`` (summed over pupils without a Python loop)."""
    onehot = np.zeros((d["M"], len(d["y"])))
    onehot[d["school"], np.arange(len(d["y"]))] = 1.0
    ZZ = (d["Z"][:, :, None] * d["Z"][:, None, :]).reshape(-1, 9)
    log_w = theta + phi * d["lrt"]
    w = pt.exp(log_w)
    r = d["y"] - pt.dot(d["X"], beta) - pt.dot(d["Z"], gamma)
    pupils = 0.5 * pt.sum(log_w - w * r**2) - 0.5 * len(d["y"]) * np.log(2 * np.pi)
    A = _segment_sum(onehot, ZZ * w[:, None]).reshape((d["M"], 3, 3))
    b = _segment_sum(onehot, d["Z"] * (w * r)[:, None])
    return pupils, A, b


def _quad_logdet(M, c):
    """Per school ``c_j' M_j^-1 c_j`` and ``log|M_j|`` for a batch of 3x3 SPD matrices."""
    l11, l21, l31, l22, l32, l33 = _chol3(M)
    v1 = c[:, 0] / l11
    v2 = (c[:, 1] - l21 * v1) / l22
    v3 = (c[:, 2] - l31 * v1 - l32 * v2) / l33
    return v1**2 + v2**2 + v3**2, 2 * (pt.log(l11) + pt.log(l22) + pt.log(l33))


def _marginal_loglik(d: dict, gamma, beta, F, theta, phi):
    """log p(y | beta, gamma, Sigma = F F', theta, phi) with every school's alpha[j] integrated out.

    For school j with residual ``r = y - X beta - Z gamma``, pupil precisions ``W``,
    ``A_j = Z_j' W_j Z_j`` and ``b_j = Z_j' W_j r_j``, integrating ``alpha[j] - gamma ~ N(0, F F')``
    gives ``sum_p log N(r_p | 0, 1/w_p) + [-log|Q_j| + c_j' Q_j^-1 c_j] / 2`` with
    ``Q_j = I + F' A_j F`` and ``c_j = F' b_j``. (This equals the precision form
    ``[log|T| - log|T + A_j| + b_j' (T + A_j)^-1 b_j] / 2`` with ``T = (F F')^-1``, but stays
    well conditioned when a between-school variance is tiny.)
    """
    pupils, A, b = _school_terms(d, gamma, beta, theta, phi)
    Q = pt.eye(3)[None, :, :] + pt.dot(F.T, pt.dot(A, F)).dimshuffle(1, 0, 2)
    quad, logdet_Q = _quad_logdet(Q, pt.dot(b, F))
    return pupils + 0.5 * pt.sum(quad - logdet_Q)


def _marginal_loglik_precision(d: dict, gamma, beta, T, theta, phi):
    """The same marginal likelihood in precision form, given ``T = Sigma^-1`` directly:
    ``sum_p log N(r_p | 0, 1/w_p) + [log|T| - log|P_j| + b_j' P_j^-1 b_j] / 2`` with
    ``P_j = T + A_j``. Cheaper when ``T`` is the parameter (the Wishart model)."""
    pupils, A, b = _school_terms(d, gamma, beta, theta, phi)
    quad, logdet_P = _quad_logdet(T[None, :, :] + A, b)
    return pupils + 0.5 * pt.sum(pt.log(pt.nlinalg.det(T)) - logdet_P + quad)


def build_bugs_model(df: pd.DataFrame, *, marginalise_alpha: bool = True) -> pm.Model:
    """The BUGS Schools model with its Wishart prior, reparameterised for NUTS.

    ``T ~ Wishart(R, 3)`` in BUGS' parameterisation is the standard Wishart with 3 degrees of
    freedom and scale ``R^-1``. It is written with the Bartlett decomposition
    ``T = (L_R A)(L_R A)^T``, ``L_R = chol(R^-1)``, ``A`` lower triangular with
    ``A[i,i]^2 ~ ChiSquared(3 - i)`` (0-based ``i``) and standard-normal entries below the
    diagonal.

    Parameters
    ----------
    df : pandas.DataFrame
        Pupil table of :func:`hbm.data.load_london_schools`.
    marginalise_alpha : bool, default True
        If True, the school coefficients are integrated out analytically (given the other
        parameters the model is linear-Gaussian in ``alpha``), leaving 19 parameters for NUTS;
        draw ``alpha`` afterwards with :func:`add_alpha_draws`, which gives exact draws from the
        same joint posterior. If False, ``alpha`` is sampled non-centred,
        ``alpha[j] = gamma + L^-T z[j]`` with ``L = L_R A`` and ``z[j] ~ Normal(0, I)``, so that
        ``alpha[j] ~ MVNormal(gamma, T^-1)``.

    Returns
    -------
    pymc.Model
        Free variables ``beta`` (8), ``gamma`` (3), ``theta``, ``phi``, ``bartlett_c2``,
        ``bartlett_z`` (and ``z`` when not marginalised); deterministics ``T``, ``Sigma``
        (and ``alpha`` (school, coef) when not marginalised).
    """
    d = design(df)
    L_R = np.linalg.cholesky(np.linalg.inv(d["R"]))
    with pm.Model(coords={**_coords(d["M"]), "pupil": np.arange(len(d["y"]))}) as model:
        beta = pm.Normal("beta", 0.0, PRIOR_SD, dims="covariate")
        gamma = pm.Normal("gamma", 0.0, PRIOR_SD, dims="coef")
        theta = pm.Normal("theta", 0.0, PRIOR_SD)
        phi = pm.Normal("phi", 0.0, PRIOR_SD)
        c2 = pm.ChiSquared("bartlett_c2", nu=np.array([3.0, 2.0, 1.0]), dims="coef")
        off = pm.Normal("bartlett_z", 0.0, 1.0, shape=3)
        A = pt.zeros((3, 3))
        A = pt.set_subtensor(A[np.diag_indices(3)], pt.sqrt(c2))
        A = pt.set_subtensor(A[np.tril_indices(3, -1)], off)
        L = pt.dot(L_R, A)
        T = pm.Deterministic("T", pt.dot(L, L.T), dims=("coef", "coef_bis"))
        L_inv = solve_triangular(L, pt.eye(3), lower=True)
        pm.Deterministic("Sigma", pt.dot(L_inv.T, L_inv), dims=("coef", "coef_bis"))
        if marginalise_alpha:
            pm.Potential("Y_marginal", _marginal_loglik_precision(d, gamma, beta, T, theta, phi))
        else:
            z = pm.Normal("z", 0.0, 1.0, dims=("school", "coef"))
            alpha = pm.Deterministic("alpha", gamma + pt.dot(z, L_inv), dims=("school", "coef"))
            _likelihood(d, alpha, beta, theta, phi)
    return model


def add_alpha_draws(idata: az.InferenceData, df: pd.DataFrame, *, random_seed: int) -> az.InferenceData:
    """Add exact draws of the school coefficients ``alpha`` to a marginalised posterior.

    For every posterior draw of (beta, gamma, T, theta, phi), ``alpha[j]`` is drawn from its
    Gaussian full conditional (the same one the Gibbs sampler of :mod:`hbm.gibbs` uses), so the
    pairs are draws from the joint posterior.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior of ``build_bugs_model(df, marginalise_alpha=True)``.
    df : pandas.DataFrame
        The same pupil table.
    random_seed : int
        Seed of the draws.

    Returns
    -------
    arviz.InferenceData
        ``idata`` with ``alpha`` (chain, draw, school, coef) added to its posterior.
    """
    from hbm.gibbs import SchoolsGibbs, mvn_from_precision

    post = idata.posterior
    missing = [v for v in ("beta", "gamma", "T", "theta", "phi") if v not in post]
    if missing:
        raise ValueError(f"the posterior lacks the variable(s) {missing}")
    sampler = SchoolsGibbs(df)
    rng = np.random.default_rng(random_seed)
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    flat = {k: post[k].values.reshape((n_chain * n_draw,) + post[k].shape[2:])
            for k in ("beta", "gamma", "T", "theta", "phi")}
    alpha = np.empty((n_chain * n_draw, sampler.M, 3))
    for i in range(n_chain * n_draw):
        state = {k: v[i] for k, v in flat.items()}
        alpha[i] = mvn_from_precision(rng, *sampler.alpha_conditional(state))
    post["alpha"] = (("chain", "draw", "school", "coef"), alpha.reshape(n_chain, n_draw, sampler.M, 3))
    post = post.assign_coords(school=np.arange(1, sampler.M + 1), coef=ALPHA_COLUMNS)
    idata.posterior = post
    return idata


def build_lkj_model(df: pd.DataFrame, *, eta: float = 2.0, scale_sd=(1.0, 0.1, 1.0),
                    marginalise_alpha: bool = True) -> pm.Model:
    """A modern variant: LKJ prior on the correlation, half-normal scales.

    Parameters
    ----------
    df : pandas.DataFrame
        Pupil table of :func:`hbm.data.load_london_schools`.
    eta : float, default 2.0
        Shape of the LKJ prior on the 3x3 correlation matrix of ``alpha``.
    scale_sd : sequence of 3 floats, default (1, 0.1, 1)
        Scales of the half-normal priors on the standard deviations of intercept, LRT slope and
        VR1 coefficient across schools (the LRT slope is per LRT point, hence the smaller scale).
    marginalise_alpha : bool, default True
        Integrate the school coefficients out as in :func:`build_bugs_model` (draw them afterwards
        with :func:`add_alpha_draws`); if False, sample them non-centred,
        ``alpha[j] = gamma + L z[j]`` with ``L`` the Cholesky factor of their covariance.

    Returns
    -------
    pymc.Model
        Same node names as :func:`build_bugs_model` (``beta``, ``gamma``, ``theta``, ``phi``,
        ``T``, and ``alpha`` when not marginalised), with ``sigma_alpha`` and ``corr`` in place
        of the Wishart.
    """
    scale_sd = np.asarray(scale_sd, dtype=float)
    if eta <= 0:
        raise ValueError(f"eta must be positive, got {eta}")
    if scale_sd.shape != (3,) or np.any(scale_sd <= 0):
        raise ValueError(f"scale_sd must be three positive numbers, got {scale_sd.tolist()}")
    d = design(df)
    with pm.Model(coords={**_coords(d["M"]), "pupil": np.arange(len(d["y"]))}) as model:
        beta = pm.Normal("beta", 0.0, PRIOR_SD, dims="covariate")
        gamma = pm.Normal("gamma", 0.0, PRIOR_SD, dims="coef")
        theta = pm.Normal("theta", 0.0, PRIOR_SD)
        phi = pm.Normal("phi", 0.0, PRIOR_SD)
        sigma = pm.HalfNormal("sigma_alpha", sigma=scale_sd, dims="coef")
        # LKJ(eta) for a 3x3 correlation matrix through its canonical partial correlations
        # (Lewandowski et al. 2009): rho12, rho13 ~ 2 Beta(eta + 1/2, eta + 1/2) - 1 and the
        # partial correlation rho23|1 ~ 2 Beta(eta, eta) - 1, independent.
        shape = np.array([eta + 0.5, eta + 0.5, eta])
        cpc = 2 * pm.Beta("corr_cpc", alpha=shape, beta=shape, shape=3) - 1
        L_corr = pt.zeros((3, 3))
        L_corr = pt.set_subtensor(L_corr[0, 0], 1.0)
        L_corr = pt.set_subtensor(L_corr[1, 0], cpc[0])
        L_corr = pt.set_subtensor(L_corr[1, 1], pt.sqrt(1 - cpc[0] ** 2))
        L_corr = pt.set_subtensor(L_corr[2, 0], cpc[1])
        L_corr = pt.set_subtensor(L_corr[2, 1], cpc[2] * pt.sqrt(1 - cpc[1] ** 2))
        L_corr = pt.set_subtensor(L_corr[2, 2], pt.sqrt((1 - cpc[1] ** 2) * (1 - cpc[2] ** 2)))
        pm.Deterministic("corr", pt.dot(L_corr, L_corr.T), dims=("coef", "coef_bis"))
        chol = sigma[:, None] * L_corr
        chol_inv = solve_triangular(chol, pt.eye(3), lower=True)
        T = pm.Deterministic("T", pt.dot(chol_inv.T, chol_inv), dims=("coef", "coef_bis"))
        if marginalise_alpha:
            pm.Potential("Y_marginal", _marginal_loglik(d, gamma, beta, chol, theta, phi))
        else:
            z = pm.Normal("z", 0.0, 1.0, dims=("school", "coef"))
            alpha = pm.Deterministic("alpha", gamma + pt.dot(z, chol.T), dims=("school", "coef"))
            _likelihood(d, alpha, beta, theta, phi)
    return model


def bugs_summary(idata: az.InferenceData) -> pd.DataFrame:
    """Posterior mean, sd and 95% interval of the 13 published nodes, with BUGS names.

    Parameters
    ----------
    idata : arviz.InferenceData
        A posterior with ``beta`` (8), ``gamma`` (3), ``theta`` and ``phi``.

    Returns
    -------
    pandas.DataFrame
        Indexed by BUGS node name (``beta[1]`` ... ``theta``), columns ``mean``, ``sd``,
        ``q2.5``, ``median``, ``q97.5``.
    """
    post = idata.posterior
    missing = [v for v in ("beta", "gamma", "theta", "phi") if v not in post]
    if missing:
        raise ValueError(f"the posterior lacks the variable(s) {missing}")
    draws = {}
    for name in ("beta", "gamma"):
        values = post[name].values.reshape(-1, post[name].shape[-1])
        draws.update({f"{name}[{k + 1}]": values[:, k] for k in range(values.shape[1])})
    for name in ("phi", "theta"):
        draws[name] = post[name].values.ravel()
    rows = {node: {"mean": v.mean(), "sd": v.std(ddof=1), "q2.5": np.quantile(v, 0.025),
                   "median": np.median(v), "q97.5": np.quantile(v, 0.975)} for node, v in draws.items()}
    return pd.DataFrame.from_dict(rows, orient="index").loc[NODES]


def compare_with_published(idata: az.InferenceData, published: pd.DataFrame, *,
                           source: str = "OpenBUGS-3.2.3") -> pd.DataFrame:
    """Side-by-side table of a posterior and a published BUGS run, node by node.

    Parameters
    ----------
    idata : arviz.InferenceData
        The posterior (see :func:`bugs_summary`).
    published : pandas.DataFrame
        :func:`hbm.data.load_london_published`.
    source : str
        Which published run to compare with (a value of ``published["source"]``).

    Returns
    -------
    pandas.DataFrame
        One row per node: ``mean``, ``sd`` (ours), ``bugs_mean``, ``bugs_sd``, and
        ``z = (mean - bugs_mean) / bugs_sd``, the difference in published posterior sds.
    """
    sources = set(published["source"])
    if source not in sources:
        raise ValueError(f"unknown source {source!r}; the table has {sorted(sources)}")
    pub = published[published["source"] == source].set_index("node")
    ours = bugs_summary(idata)
    missing = [n for n in NODES if n not in pub.index]
    if missing:
        raise ValueError(f"the published table lacks the node(s) {missing}")
    table = pd.DataFrame({"mean": ours["mean"], "sd": ours["sd"],
                          "bugs_mean": pub.loc[NODES, "mean"].astype(float),
                          "bugs_sd": pub.loc[NODES, "sd"].astype(float)})
    table["z"] = (table["mean"] - table["bugs_mean"]) / table["bugs_sd"]
    table.index.name = "node"
    return table


def school_ranks(idata: az.InferenceData, *, var_name: str = "alpha", coef: int = 0,
                 prob: float = 0.95) -> pd.DataFrame:
    """Posterior distribution of each school's rank by one of its coefficients.

    Rank 1 is the school with the **highest** coefficient (for the intercept: the best expected
    result for a pupil of average LRT in VR band 3, other covariates at zero); rank M the lowest.
    The rank is computed in every posterior draw, so its distribution carries the uncertainty of
    all the schools at once.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior with ``var_name`` of dims (chain, draw, school, coef).
    var_name : str, default "alpha"
        The school-level variable.
    coef : int, default 0
        Which coefficient to rank (0 = intercept ``alpha[j, 1]``).
    prob : float, default 0.95
        Probability of the equal-tailed interval.

    Returns
    -------
    pandas.DataFrame
        One row per school, sorted by mean rank: ``school``, ``mean_rank``, ``median_rank``,
        ``lower`` and ``upper`` (the ends of the equal-tailed interval, as ranks). The ranks of
        every draw are :func:`rank_draws`.
    """
    ranks = rank_draws(idata, var_name=var_name, coef=coef)
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, got {prob}")
    tail = (1 - prob) / 2
    table = pd.DataFrame({
        "school": ranks.columns,
        "mean_rank": ranks.mean().to_numpy(),
        "median_rank": ranks.median().to_numpy(),
        "lower": ranks.quantile(tail, interpolation="lower").to_numpy(),
        "upper": ranks.quantile(1 - tail, interpolation="higher").to_numpy(),
    })
    return table.sort_values("mean_rank", kind="stable").reset_index(drop=True)


def rank_draws(idata: az.InferenceData, *, var_name: str = "alpha", coef: int = 0) -> pd.DataFrame:
    """The rank of every school in every posterior draw (1 = highest), one column per school.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior with ``var_name`` of dims (chain, draw, school, coef).
    var_name : str, default "alpha"
    coef : int, default 0

    Returns
    -------
    pandas.DataFrame
        Rows are draws (chains stacked), columns the school labels.

    Raises
    ------
    ValueError
        If ``idata`` is not an InferenceData with a posterior holding ``var_name`` of four
        dims, or ``coef`` is out of range.
    """
    if not isinstance(idata, az.InferenceData) or "posterior" not in idata.groups():
        raise ValueError(f"idata must be an arviz.InferenceData with a posterior group, got {type(idata).__name__}")
    post = idata.posterior
    if var_name not in post:
        raise ValueError(f"the posterior has no variable {var_name!r}")
    var = post[var_name]
    if var.ndim != 4:
        raise ValueError(f"{var_name!r} must have dims (chain, draw, school, coef), got {var.dims}")
    if not 0 <= coef < var.shape[3]:
        raise ValueError(f"coef must be in 0..{var.shape[3] - 1}, got {coef}")
    values = var.values[..., coef].reshape(-1, var.shape[2])
    ranks = (-values).argsort(axis=1).argsort(axis=1) + 1
    return pd.DataFrame(ranks, columns=var[var.dims[2]].values)
