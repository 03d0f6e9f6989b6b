"""Closed-form answers for the Eight Schools: complete pooling and the exact hierarchical posterior.

With the standard errors known, ``mu | tau, y`` and ``theta | mu, tau, y`` are normal and the
marginal posterior of ``tau`` is one-dimensional (BDA3 section 5.4), so it is evaluated on a grid
and sampled by inverse CDF. Priors are the model's (:data:`~hbm.eight_schools.models.DEFAULT_PRIORS`,
overridden by ``priors=``, evaluated with :func:`hbm.priors.prior_logpdf`); the exact answer needs
a normal or flat prior on ``mu`` and takes any prior on ``tau`` that :mod:`hbm.priors` knows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

import hbm
from hbm.priors import Prior, describe_prior, prior_logpdf, prior_quantile, resolve_priors

from .models import DEFAULT_PRIORS, validate_schools

TAIL_TOLERANCE = 1e-7
"""Largest posterior mass of tau allowed beyond the end of the grid (estimated from the tail's slope)."""

# how fast a prior's density falls for large tau: density ~ tau**-k (inf: faster than any power)
_PRIOR_TAIL = {"HalfFlat": lambda p: 0.0, "HalfCauchy": lambda p: 2.0, "HalfStudentT": lambda p: p["nu"] + 1,
               "InverseGamma": lambda p: p["alpha"] + 1}


def pooled_estimate(y, sigma) -> tuple[float, float]:
    """Inverse-variance weighted mean of the effects and its standard error (complete pooling).

    Returns ``sum(y / sigma**2) / sum(1 / sigma**2)`` and ``sum(1 / sigma**2) ** -0.5``.
    """
    y, sigma = validate_schools(y, sigma)
    w = 1.0 / sigma**2
    return float(np.sum(w * y) / np.sum(w)), float(np.sqrt(1.0 / np.sum(w)))


def pooled_ppc(y, sigma, n_sims: int, *, random_seed: int) -> dict[str, np.ndarray]:
    """Posterior predictive check of complete pooling: replicated schools' minimum and maximum.

    Each replication draws a common effect from ``N(pooled mean, pooled sd)``, then
    ``y_rep_j ~ N(effect, sigma_j)``. ``random_seed`` is shifted by :func:`hbm.seed`.

    Returns
    -------
    dict
        ``min`` and ``max`` (each ``(n_sims,)``) of the replicated effects, and ``p_min`` /
        ``p_max``: the fractions of replications whose minimum is at most / maximum at least
        the observed one.
    """
    y, sigma = validate_schools(y, sigma)
    if n_sims < 1:
        raise ValueError(f"n_sims must be positive, got {n_sims}")
    rng = np.random.default_rng(hbm.seed(random_seed))
    mean, sd = pooled_estimate(y, sigma)
    effect = rng.normal(mean, sd, size=(n_sims, 1))
    y_rep = rng.normal(effect, sigma)
    lo, hi = y_rep.min(axis=1), y_rep.max(axis=1)
    return {"min": lo, "max": hi, "p_min": float(np.mean(lo <= y.min())), "p_max": float(np.mean(hi >= y.max()))}


def _priors(priors) -> dict[str, dict]:
    spec = resolve_priors(DEFAULT_PRIORS, priors)
    if spec["mu"]["dist"] not in ("Normal", "Flat"):
        raise ValueError(f"the exact posterior needs a Normal or Flat prior on mu, got {spec['mu']['dist']}")
    return spec


def _mu_moments(spec) -> tuple[float, float]:
    """(mean, precision) of the prior on mu; the flat prior has precision 0."""
    if spec["mu"]["dist"] == "Flat":
        return 0.0, 0.0
    return spec["mu"]["mu"], 1.0 / spec["mu"]["sigma"] ** 2


def mu_given_tau(y, sigma, tau, *, priors: Mapping[str, Prior] | None = None):
    """Mean and variance of ``p(mu | tau, y)`` (BDA3 eq. 5.20 for the flat prior), arrays shaped like ``tau``."""
    y, sigma = validate_schools(y, sigma)
    m0, p0 = _mu_moments(_priors(priors))
    var = sigma**2 + np.asarray(tau, dtype=float)[..., None] ** 2
    v_mu = 1.0 / (p0 + np.sum(1.0 / var, axis=-1))
    return v_mu * (p0 * m0 + np.sum(y / var, axis=-1)), v_mu


def theta_given_mu_tau(y, sigma, mu, tau):
    """Mean and variance of ``p(theta_j | mu, tau, y)`` (BDA3 eq. 5.17), valid at tau = 0.

    ``mu`` and ``tau`` broadcast against each other; results have a trailing school axis.
    """
    y, sigma = validate_schools(y, sigma)
    mu = np.asarray(mu, dtype=float)[..., None]
    t2 = np.asarray(tau, dtype=float)[..., None] ** 2
    s2 = sigma**2
    return (y * t2 + mu * s2) / (s2 + t2), s2 * t2 / (s2 + t2)


def shrinkage_curves(y, sigma, tau, *, priors: Mapping[str, Prior] | None = None) -> np.ndarray:
    """``E[theta_j | tau, y]`` for each tau (rows) and school (columns), mu integrated out."""
    mu_hat, _ = mu_given_tau(y, sigma, tau, priors=priors)
    return theta_given_mu_tau(y, sigma, mu_hat, tau)[0]


def tau_grid(sigma, n: int = 4000, upper: float | None = None) -> np.ndarray:
    """A grid for tau: ``n`` points on ``[0, 40 max(sigma)]``, quadratically spaced so it is fine
    near 0, then (when ``upper`` is larger) geometrically spaced points (ratio 1.005) up to ``upper``."""
    end = 40.0 * float(np.max(sigma))
    grid = end * np.linspace(0.0, 1.0, n) ** 2
    if upper is not None and upper > end:
        extra = np.geomspace(end, upper, int(np.ceil(np.log(upper / end) / np.log(1.005))) + 1)
        grid = np.concatenate([grid, extra[1:]])
    return grid


def _log_tau_density(y, sigma, tau, spec) -> np.ndarray:
    """Log of the unnormalised marginal posterior of tau."""
    m0, p0 = _mu_moments(spec)
    var = sigma**2 + tau[:, None] ** 2
    v_mu = 1.0 / (p0 + np.sum(1.0 / var, axis=1))
    mu_hat = v_mu * (p0 * m0 + np.sum(y / var, axis=1))
    log_p = (0.5 * np.log(v_mu) - 0.5 * np.sum(np.log(var), axis=1)
             - 0.5 * np.sum((y - mu_hat[:, None]) ** 2 / var, axis=1) - 0.5 * p0 * (mu_hat - m0) ** 2)
    if spec["tau"]["dist"] == "HalfFlat":  # the flat prior, including its limit at tau = 0
        return log_p
    with np.errstate(divide="ignore"):
        return log_p + prior_logpdf(spec["tau"], tau)


def _tail_exponent(n_schools: int, spec) -> float:
    """k in p(tau | y) ~ tau**-k for large tau (inf when the tail falls faster than any power)."""
    likelihood = n_schools - 1 if spec["mu"]["dist"] == "Flat" else n_schools
    prior = _PRIOR_TAIL.get(spec["tau"]["dist"], lambda p: np.inf)(spec["tau"])
    return likelihood + prior


def _support(y, sigma, spec, grid_size: int):
    """Grid, normalised density and log-normaliser of p(tau | y), the grid wide enough for the tail."""
    k = _tail_exponent(y.size, spec)
    if k <= 1:
        flat_mu = " and a flat prior on mu" if spec["mu"]["dist"] == "Flat" else ""
        raise ValueError(
            f"the posterior of tau is improper: with a {describe_prior(spec['tau'])} prior on tau{flat_mu} "
            f"and J = {y.size} schools, p(tau | y) falls only like tau^-{k:g} as tau grows, so it cannot be "
            f"normalised. Use a proper prior on tau (such as HalfCauchy) or at least "
            f"{3 if flat_mu else 2} schools.")
    upper = 40.0 * float(np.max(sigma))
    for _ in range(7):
        grid = tau_grid(sigma, grid_size, upper)
        log_p = _log_tau_density(y, sigma, grid, spec)
        top = np.max(log_p)
        dens = np.exp(log_p - top)
        total = np.trapezoid(dens, grid)
        if dens[-1] == 0:
            break
        slope = -(log_p[-1] - log_p[-2]) / (np.log(grid[-1]) - np.log(grid[-2]))
        if slope > 1 and dens[-1] * grid[-1] / (slope - 1) < TAIL_TOLERANCE * total:
            break
        upper *= 100.0
    else:
        raise ValueError(f"the posterior of tau has too heavy a tail (like tau^-{k:g}) to be computed on a grid; "
                         "use a prior on tau with a lighter tail")
    return grid, dens / total, top + np.log(total)


def tau_posterior(y, sigma, tau, *, priors: Mapping[str, Prior] | None = None, grid_size: int = 4000):
    """Marginal posterior density ``p(tau | y)`` at the values ``tau`` (BDA3 eq. 5.21 for flat priors).

    Uses ``p(tau | y) ∝ p(tau) p(y | mu, tau) p(mu) / p(mu | tau, y)`` evaluated at ``mu = E[mu | tau, y]``,
    which holds for the flat and for a normal prior on mu. The density is normalised over all of
    ``(0, inf)`` (on a grid that :func:`tau_grid` widens until the tail beyond it is negligible), whatever
    the values asked for; an improper posterior (a flat tau prior with too few schools) is refused.
    """
    y, sigma = validate_schools(y, sigma)
    spec = _priors(priors)
    tau = np.asarray(tau, dtype=float)
    if tau.ndim != 1 or np.any(tau < 0):
        raise ValueError("tau must be a one-dimensional array of non-negative values")
    *_, log_norm = _support(y, sigma, spec, grid_size)
    return np.exp(_log_tau_density(y, sigma, tau, spec) - log_norm)


def _cdf(grid, dens) -> np.ndarray:
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    return cdf / cdf[-1]


def exact_tau_cdf(y, sigma, x, *, priors: Mapping[str, Prior] | None = None, grid_size: int = 4000):
    """``P(tau <= x | y)`` from the exact marginal posterior."""
    y, sigma = validate_schools(y, sigma)
    grid, dens, _ = _support(y, sigma, _priors(priors), grid_size)
    return np.interp(np.asarray(x, dtype=float), grid, _cdf(grid, dens))


def exact_tau_quantiles(y, sigma, probs, *, priors: Mapping[str, Prior] | None = None,
                        grid_size: int = 4000) -> np.ndarray:
    """Quantiles of ``p(tau | y)`` from its CDF on the grid (no sampling)."""
    y, sigma = validate_schools(y, sigma)
    grid, dens, _ = _support(y, sigma, _priors(priors), grid_size)
    return np.interp(np.asarray(probs, dtype=float), _cdf(grid, dens), grid)


def exact_mu_quantiles(y, sigma, probs, *, priors: Mapping[str, Prior] | None = None,
                       grid_size: int = 4000) -> np.ndarray:
    """Quantiles of ``p(mu | y)``, a mixture over the tau grid of the normals ``p(mu | tau, y)`` (no sampling)."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    y, sigma = validate_schools(y, sigma)
    spec = _priors(priors)
    grid, dens, _ = _support(y, sigma, spec, grid_size)
    weights = np.diff(_cdf(grid, dens))  # mass of each grid interval, at its midpoint
    mu_hat, v_mu = mu_given_tau(y, sigma, 0.5 * (grid[1:] + grid[:-1]), priors=spec)
    sd = np.sqrt(v_mu)
    lo, hi = np.min(mu_hat - 10 * sd), np.max(mu_hat + 10 * sd)
    probs = np.asarray(probs, dtype=float)
    return np.array([brentq(lambda x: norm.cdf((x - mu_hat) / sd) @ weights / weights.sum() - p, lo, hi,
                            xtol=1e-9) for p in probs.ravel()]).reshape(probs.shape)


def exact_posterior_draws(y, sigma, n_draws: int, *, random_seed: int,
                          priors: Mapping[str, Prior] | None = None, grid_size: int = 4000) -> dict:
    """Independent draws from the exact posterior of the normal hierarchical model (BDA3 section 5.4).

    tau is drawn from ``p(tau | y)`` by inverse-CDF sampling on the grid, then ``mu ~ p(mu | tau, y)``
    and ``theta ~ p(theta | mu, tau, y)`` in closed form. ``random_seed`` is shifted by
    :func:`hbm.seed`. Pass ``priors=BDA3_PRIORS`` for BDA3's flat priors.

    Returns
    -------
    dict
        ``tau`` and ``mu`` of shape ``(n_draws,)``, ``theta`` of shape ``(n_draws, J)``.

    Raises
    ------
    ValueError
        For an improper posterior: a flat prior on tau with J <= 2 schools and a flat prior on mu
        (J = 1 with a normal one). With J = 3 the tail is heavy and the grid is widened until the
        mass beyond it is below :data:`TAIL_TOLERANCE`.
    """
    y, sigma = validate_schools(y, sigma)
    if isinstance(n_draws, bool) or int(n_draws) != n_draws or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    spec = _priors(priors)
    rng = np.random.default_rng(hbm.seed(random_seed))
    grid, dens, _ = _support(y, sigma, spec, grid_size)
    tau = np.interp(rng.uniform(size=int(n_draws)), _cdf(grid, dens), grid)
    mu_hat, v_mu = mu_given_tau(y, sigma, tau, priors=spec)
    mu = rng.normal(mu_hat, np.sqrt(v_mu))
    t_mean, t_var = theta_given_mu_tau(y, sigma, mu, tau)
    return {"tau": tau, "mu": mu, "theta": rng.normal(t_mean, np.sqrt(t_var))}


def exact_posterior_means(y, sigma, *, priors: Mapping[str, Prior] | None = None, grid_size: int = 4000) -> dict:
    """Posterior means of ``mu``, ``tau`` and ``theta`` by quadrature on the tau grid (no sampling).

    The mean of tau is infinite when its posterior falls like ``tau**-2`` or slower (a flat prior on
    tau with three schools, for example); it is then returned as ``inf``.
    """
    y, sigma = validate_schools(y, sigma)
    spec = _priors(priors)
    grid, dens, _ = _support(y, sigma, spec, grid_size)
    mu_hat, _ = mu_given_tau(y, sigma, grid, priors=spec)
    theta_hat = theta_given_mu_tau(y, sigma, mu_hat, grid)[0]
    tau_mean = float(np.trapezoid(dens * grid, grid)) if _tail_exponent(y.size, spec) > 2 else np.inf
    return {"mu": float(np.trapezoid(dens * mu_hat, grid)), "tau": tau_mean,
            "theta": np.trapezoid(dens[:, None] * theta_hat, grid, axis=0)}


def prior_sensitivity(y, sigma, tau_priors: Mapping[str, Prior], *, mu_prior: Prior | None = None,
                      school: int = 0, small_tau: float = 1.0) -> pd.DataFrame:
    """The exact posterior under each prior on tau, one row per prior (no sampling).

    Parameters
    ----------
    tau_priors : mapping
        Name -> prior on tau.
    mu_prior : prior, optional
        The prior on mu (default the model's ``Normal(0, 5)``).
    school : int
        Which school's effect to summarise (index; default the first, A).
    small_tau : float
        The threshold of the column ``P(tau < small)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``prior 95%`` (the prior's own 95% quantile of tau; NaN for an improper prior),
        ``tau median``, ``tau 95%``, ``P(tau < 1)`` (for ``small_tau=1``), ``E[mu]`` and ``E[theta]``
        (of ``school``).
    """
    rows = {}
    for name, prior in tau_priors.items():
        priors = {"tau": prior} if mu_prior is None else {"mu": mu_prior, "tau": prior}
        spec = _priors(priors)
        means = exact_posterior_means(y, sigma, priors=spec)
        q50, q95 = exact_tau_quantiles(y, sigma, [0.5, 0.95], priors=spec)
        improper = spec["tau"]["dist"] == "HalfFlat"
        rows[name] = {"prior 95%": np.nan if improper else float(prior_quantile(spec["tau"], 0.95)),
                      "tau median": q50, "tau 95%": q95,
                      f"P(tau < {small_tau:g})": float(exact_tau_cdf(y, sigma, small_tau, priors=spec)),
                      "E[mu]": means["mu"], "E[theta]": float(means["theta"][school])}
    return pd.DataFrame(rows).T
