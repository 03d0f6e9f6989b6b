"""PyMC builders of the Schools model: the BUGS Wishart prior, and the LKJ variant.

The model (Goldstein et al. 1993; BUGS Examples Vol. 2 "Schools"), for pupil ``p`` in school ``j``::

    Y[p] ~ Normal(mu[p], precision tau[p])
    mu[p] = alpha[j,1] + alpha[j,2] LRT[p] + alpha[j,3] VR1[p] + X[p] @ beta
    log tau[p] = theta + phi LRT[p]
    alpha[j, 1:3] ~ MVNormal(gamma, precision T),   T ~ Wishart(R, 3)   (BUGS: E[T] = 3 R^-1)
    beta, gamma, theta, phi ~ Normal(0, sd 100)

where ``X`` holds the eight pupil- and school-level covariates of
:data:`~hbm.school_rankings.design.BETA_COLUMNS` (``beta[1..8]`` in BUGS).
"""

from __future__ import annotations

from collections.abc import Mapping

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.transforms import Transform
from pytensor.tensor.slinalg import solve_triangular

import hbm
from hbm.priors import Prior, prior_rv, resolve_priors
from hbm.school_rankings.design import ALPHA_COLUMNS, BETA_COLUMNS, VAGUE_PRIOR, validate_schools
from hbm.school_rankings.gibbs import SchoolsGibbs, mvn_from_precision
from hbm.school_rankings.marginal import marginal_loglik, marginal_loglik_precision

DEFAULT_PRIORS: dict[str, Prior] = {
    "sigma_intercept": {"dist": "HalfNormal", "sigma": 1.0},
    "sigma_LRT": {"dist": "HalfNormal", "sigma": 0.1},
    "sigma_vr1": {"dist": "HalfNormal", "sigma": 1.0},
}
"""Priors of the between-school sds of :func:`build_lkj_model`, one per coefficient of
``alpha`` (``sigma_<coef>``); the LRT slope is per reading-test point, hence its smaller scale."""


def _coords(d: dict) -> dict:
    return {"school": np.arange(1, d["M"] + 1), "coef": ALPHA_COLUMNS, "covariate": BETA_COLUMNS,
            "coef_bis": ALPHA_COLUMNS, "pupil": np.arange(len(d["y"]))}


class PerCovariateSd(Transform):
    """The sampler's coordinate of a regression coefficient: the coefficient times the sd of its
    covariate (the change in the mean, or in the log precision, per sd of the covariate).

    An exact change of variables, like the log of a scale parameter: the model and its posterior
    are unchanged, but NUTS and its initial jitter (uniform on (-1, 1) per coordinate) see numbers
    of similar size. On the raw scale ``phi`` multiplies reading-test scores up to 37 and
    ``beta[1]`` their squares up to 1400, so a jittered start of ``phi = 0.4`` puts pupil
    precisions at ``exp(15)``, where a chain can fail to adapt at all.

    Parameters
    ----------
    sd : array_like
        The sd of each coefficient's covariate (1 for the intercept), broadcast against the
        coefficient: one per column of the design matrix, or a scalar.
    """

    name = "per_covariate_sd"

    def __init__(self, sd):
        self.sd = np.asarray(sd, dtype=float)

    def forward(self, value, *inputs):
        return value * self.sd

    def backward(self, value, *inputs):
        return value / self.sd

    def log_jac_det(self, value, *inputs):
        return pt.zeros_like(value) - np.log(self.sd)


def _per_sd(columns: np.ndarray) -> PerCovariateSd:
    """The transform for the coefficients of ``columns``: each column's sd, 1 for a constant column."""
    sd = np.std(columns, axis=0)
    return PerCovariateSd(np.where(sd > 0, sd, 1.0))


def _fixed_effects(d: dict):
    """``beta``, ``gamma``, ``theta``, ``phi`` with the BUGS priors (inside a model context),
    sampled per sd of their covariates (:class:`PerCovariateSd`)."""
    return (prior_rv("beta", VAGUE_PRIOR, dims="covariate", transform=_per_sd(d["X"])),
            prior_rv("gamma", VAGUE_PRIOR, dims="coef", transform=_per_sd(d["Z"])),
            prior_rv("theta", VAGUE_PRIOR), prior_rv("phi", VAGUE_PRIOR, transform=_per_sd(d["lrt"])))


def _likelihood(d: dict, alpha, beta, theta, phi):
    s = d["school"]
    mu = (alpha[s, 0] + alpha[s, 1] * d["lrt"] + alpha[s, 2] * d["Z"][:, 2]
          + pt.dot(d["X"], beta))
    pm.Normal("Y", mu=mu, tau=pt.exp(theta + phi * d["lrt"]), observed=d["y"], dims="pupil")


def build_bugs_model(df: pd.DataFrame, *, marginalise_alpha: bool = True) -> pm.Model:
    """The BUGS Schools model with its Wishart prior, reparameterised for NUTS.

    ``T ~ Wishart(R, 3)`` in BUGS' parameterisation is the standard Wishart with 3 degrees of
    freedom and scale ``R^-1``. It is written with the Bartlett decomposition
    ``T = (L_R A)(L_R A)^T``, ``L_R = chol(R^-1)``, ``A`` lower triangular with
    ``A[i,i]^2 ~ ChiSquared(3 - i)`` (0-based ``i``) and standard-normal entries below the
    diagonal. The priors are the published model's; they are not options.

    Parameters
    ----------
    df : pandas.DataFrame
        Pupil table of ``hbm.data.load("london_schools")`` (see :func:`validate_schools`).
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
    d = validate_schools(df)
    L_R = np.linalg.cholesky(np.linalg.inv(d["R"]))
    with pm.Model(coords=_coords(d)) as model:
        beta, gamma, theta, phi = _fixed_effects(d)
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
            # log|T| = log|L_R|^2 + sum_i log A[i,i]^2, and A[i,i]^2 is bartlett_c2[i]
            logdet_T = 2 * np.log(np.diag(L_R)).sum() + pt.sum(pt.log(c2))
            pm.Potential("Y_marginal", marginal_loglik_precision(d, gamma, beta, T, theta, phi, logdet_T))
        else:
            z = pm.Normal("z", 0.0, 1.0, dims=("school", "coef"))
            alpha = pm.Deterministic("alpha", gamma + pt.dot(z, L_inv), dims=("school", "coef"))
            _likelihood(d, alpha, beta, theta, phi)
    return model


def build_lkj_model(df: pd.DataFrame, *, eta: float = 2.0, priors: Mapping[str, Prior] | None = None,
                    marginalise_alpha: bool = True) -> pm.Model:
    """A modern variant: LKJ prior on the correlations of ``alpha``, separate priors on its scales.

    Parameters
    ----------
    df : pandas.DataFrame
        Pupil table of ``hbm.data.load("london_schools")``.
    eta : float, default 2.0
        Shape of the LKJ prior on the 3x3 correlation matrix of ``alpha``.
    priors : mapping, optional
        Overrides of :data:`DEFAULT_PRIORS`, the priors of the between-school sds
        ``sigma_intercept``, ``sigma_LRT`` and ``sigma_vr1``, e.g.
        ``{"sigma_LRT": {"dist": "HalfNormal", "sigma": 0.05}}``.
    marginalise_alpha : bool, default True
        Integrate the school coefficients out as in :func:`build_bugs_model` (draw them afterwards
        with :func:`add_alpha_draws`); if False, sample them non-centred,
        ``alpha[j] = gamma + L z[j]`` with ``L`` the Cholesky factor of their covariance.

    Returns
    -------
    pymc.Model
        Same node names as :func:`build_bugs_model` (``beta``, ``gamma``, ``theta``, ``phi``,
        ``T``, and ``alpha`` when not marginalised), with ``sigma_alpha`` (coef) and ``corr`` in
        place of the Wishart.
    """
    if not eta > 0:
        raise ValueError(f"eta must be positive, got {eta}")
    spec = resolve_priors(DEFAULT_PRIORS, priors)
    d = validate_schools(df)
    with pm.Model(coords=_coords(d)) as model:
        beta, gamma, theta, phi = _fixed_effects(d)
        sigma = _scale_rv([spec[f"sigma_{c}"] for c in ALPHA_COLUMNS])
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
        pm.Deterministic("T", pt.dot(chol_inv.T, chol_inv), dims=("coef", "coef_bis"))
        if marginalise_alpha:
            pm.Potential("Y_marginal", marginal_loglik(d, gamma, beta, chol, theta, phi))
        else:
            z = pm.Normal("z", 0.0, 1.0, dims=("school", "coef"))
            alpha = pm.Deterministic("alpha", gamma + pt.dot(z, chol.T), dims=("school", "coef"))
            _likelihood(d, alpha, beta, theta, phi)
    return model


def _scale_rv(specs: list[dict]):
    """``sigma_alpha`` (coef) from one prior per coefficient: a single vector variable when the
    three priors share a family, else three scalar variables ``sigma_<coef>`` stacked."""
    if len({s["dist"] for s in specs}) == 1:
        params = {k: np.array([s[k] for s in specs]) for k in specs[0] if k != "dist"}
        return getattr(pm, specs[0]["dist"])("sigma_alpha", **params, dims="coef")
    parts = [prior_rv(f"sigma_{c}", s) for c, s in zip(ALPHA_COLUMNS, specs)]
    return pm.Deterministic("sigma_alpha", pt.stack(parts), dims="coef")


def add_alpha_draws(idata: az.InferenceData, df: pd.DataFrame, *, random_seed: int) -> az.InferenceData:
    """Add exact draws of the school coefficients ``alpha`` to a marginalised posterior.

    For every posterior draw of (beta, gamma, T, theta, phi), ``alpha[j]`` is drawn from its
    Gaussian full conditional (the one the Gibbs sampler of :mod:`hbm.school_rankings.gibbs`
    uses), so the pairs are draws from the joint posterior.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior of ``build_bugs_model(df)`` or ``build_lkj_model(df)`` (``marginalise_alpha=True``).
    df : pandas.DataFrame
        The same pupil table.
    random_seed : int
        Seed of the draws (shifted by ``hbm.seed``).

    Returns
    -------
    arviz.InferenceData
        ``idata`` with ``alpha`` (chain, draw, school, coef) added to its posterior.
    """
    post = idata.posterior
    missing = [v for v in ("beta", "gamma", "T", "theta", "phi") if v not in post]
    if missing:
        raise ValueError(f"the posterior lacks the variable(s) {missing}")
    sampler = SchoolsGibbs(df)
    rng = np.random.default_rng(hbm.seed(random_seed))
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    flat = {k: post[k].values.reshape((n_chain * n_draw,) + post[k].shape[2:])
            for k in ("beta", "gamma", "T", "theta", "phi")}
    alpha = np.empty((n_chain * n_draw, sampler.M, 3))
    for i in range(n_chain * n_draw):
        state = {k: v[i] for k, v in flat.items()}
        alpha[i] = mvn_from_precision(rng, *sampler.alpha_conditional(state))
    post["alpha"] = (("chain", "draw", "school", "coef"), alpha.reshape(n_chain, n_draw, sampler.M, 3))
    idata.posterior = post.assign_coords(school=np.arange(1, sampler.M + 1), coef=ALPHA_COLUMNS)
    return idata
