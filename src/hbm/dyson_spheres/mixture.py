"""Each object's frequency posterior as weights on its grid: with or without the population, its
summaries and the posterior mass of each peak, and the population's exact posterior by quadrature.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hbm.dyson_spheres.exact import FrequencyGrid
from hbm.dyson_spheres.periodogram import basin, local_maxima
from hbm.priors import Prior, prior_logpdf


def _log_frequency_prior(grid: FrequencyGrid, mu=None, sigma=None) -> np.ndarray:
    """Log prior density of f on the grid: log-uniform, or log-normal (mu, sigma) broadcast as
    ``(..., objects, grid)``. (Computed in place in one new array: these arrays are large, and
    temporaries made the quadrature twice as slow.)"""
    log_f = np.log(grid.frequency)
    if mu is None:
        return -log_f
    mu, sigma = np.asarray(mu, float)[..., None, None], np.asarray(sigma, float)[..., None, None]
    out = log_f - mu
    out /= sigma
    out *= out
    out *= -0.5
    out -= np.log(sigma)
    out -= log_f
    return out


NEGLIGIBLE = 40.0
"""Terms more than this many nats below the largest are left out of :func:`_log_sum_exp`: each is
below ``exp(-40) = 4.2e-18`` of it, so ``n`` of them change the sum by less than ``n * 4.2e-18`` of
itself (1.6e-14 for the 3,782 frequencies of one of chapter 3's objects), less than the rounding
of the ``n`` additions themselves (up to ``n * 1.1e-16``)."""


def _log_sum_exp(x: np.ndarray) -> np.ndarray:
    """``log(sum(exp(x), axis=-1))`` with the largest term taken out first; overwrites ``x``.

    ``exp`` is the cost (about 10 ns a number on a machine without AVX-512, where NumPy's ``exp``
    of doubles is not vectorised), so it is taken only of the terms within :data:`NEGLIGIBLE` nats
    of the largest: a contiguous run of each row of the quadrature's arrays, fewer than half of
    them for chapter 3's data. scipy.special.logsumexp takes every ``exp``, several times slower.
    """
    top = x.max(axis=-1, keepdims=True)
    x -= top
    inside = x > -NEGLIGIBLE
    np.exp(x, out=x, where=inside)
    return np.log(x.sum(axis=-1, where=inside)) + top[..., 0]


def _normalised_exp(logw: np.ndarray) -> np.ndarray:
    """``exp(logw)`` normalised to sum to one along the last axis; overwrites ``logw``."""
    logw -= logw.max(axis=-1, keepdims=True)
    np.exp(logw, out=logw)
    logw /= logw.sum(axis=-1, keepdims=True)
    return logw


def frequency_weights(grid: FrequencyGrid, mu=None, sigma=None, *, chunk: int = 200) -> np.ndarray:
    """Posterior probability of each grid cell of each object's frequency.

    Parameters
    ----------
    grid : FrequencyGrid
        From :func:`frequency_grid`.
    mu, sigma : float or array_like, optional
        Mean and sd of a log-normal population of frequencies: numbers, or arrays of posterior
        draws of the population (the weights are then averaged over the draws, which gives
        each object's posterior with the population integrated out). Default: no population,
        a log-uniform prior on each frequency over its band.
    chunk : int
        Draws processed at a time (memory).

    Returns
    -------
    numpy.ndarray
        ``(objects, grid)``, each row summing to one.
    """
    base = grid.log_likelihood + np.log(grid.step)[:, None]
    if mu is None:
        return _normalised_exp(base + _log_frequency_prior(grid))
    mu, sigma = np.broadcast_arrays(np.ravel(mu), np.ravel(sigma))
    total = np.zeros_like(base)
    for start in range(0, mu.size, chunk):
        logw = _log_frequency_prior(grid, mu[start:start + chunk], sigma[start:start + chunk])
        logw += base
        total += _normalised_exp(logw).sum(axis=0)
    return total / mu.size


def frequency_summary(grid: FrequencyGrid, weights: np.ndarray, *, prob: float = 0.94) -> pd.DataFrame:
    """Mean, sd and equal-tailed interval of each object's frequency from its grid weights.

    Each grid point stands for a cell of one grid step centred on it, with its weight spread
    evenly over the cell; the interval ends interpolate the cumulative distribution.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``object_id``: ``mean``, ``sd``, ``lower``, ``upper`` (cycles/day).
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
    rows = {}
    for k, name in enumerate(grid.objects):
        f, w, step = grid.frequency[k], weights[k] / weights[k].sum(), grid.step[k]
        mean = float(np.sum(w * f))
        sd = float(np.sqrt(np.sum(w * (f - mean) ** 2) + step**2 / 12))
        edges = np.concatenate([[f[0] - step / 2], f + step / 2])
        cdf = np.concatenate([[0.0], np.cumsum(w)])
        lower, upper = np.interp([(1 - prob) / 2, (1 + prob) / 2], cdf, edges)
        rows[name] = {"mean": mean, "sd": sd, "lower": float(lower), "upper": float(upper)}
    return pd.DataFrame(rows).T.rename_axis("object_id")


def peak_masses(grid: FrequencyGrid, weights: Mapping[str, np.ndarray], *, n_peaks: int = 3) -> pd.DataFrame:
    """Posterior mass on each peak of each object's marginal likelihood.

    A peak is a local maximum of ``log p(y | f)`` on the grid; its basin runs between the minima
    on either side, so the basins partition the band and the masses of all peaks sum to one.

    Parameters
    ----------
    grid : FrequencyGrid
    weights : mapping
        Name -> ``(objects, grid)`` weights (:func:`frequency_weights`), e.g.
        ``{"independent": ..., "population": ...}``.
    n_peaks : int
        Peaks listed per object: those with the most mass under the first weights.

    Returns
    -------
    pandas.DataFrame
        One row per peak: ``object_id``, ``frequency`` (the likelihood's maximum),
        ``lower``, ``upper`` (the basin) and one column of mass per weights name.
    """
    rows = []
    names = list(weights)
    for k, obj in enumerate(grid.objects):
        loglik = grid.log_likelihood[k]
        found = []
        for i in local_maxima(loglik):
            lo, hi = basin(loglik, i)
            # the minimum between two basins belongs to the lower one, so the basins partition the grid
            cells = slice(lo + 1 if lo > 0 else 0, hi + 1)
            found.append((i, lo, hi, {n: float(weights[n][k, cells].sum()) for n in names}))
        found.sort(key=lambda x: -x[3][names[0]])
        for i, lo, hi, mass in found[:n_peaks]:
            rows.append({"object_id": obj, "frequency": grid.frequency[k, i], "lower": grid.frequency[k, lo],
                         "upper": grid.frequency[k, hi], **mass})
    return pd.DataFrame(rows)


def population_quadrature(
    grid: FrequencyGrid,
    priors: Mapping[str, Prior],
    *,
    n_mu: int = 41,
    n_sigma: int = 41,
    drop: float = 50.0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Exact posterior of the frequency population of :func:`build_grid_model`, by quadrature.

    The posterior of ``(mu_f, log sigma_f)`` is evaluated on a rectangular grid (``mu_f`` over the
    log band, ``sigma_f`` from 0.01 to 2 on a log scale), each object's frequency summed over its
    grid as in the model (the truncated prior normalised by its sum over the grid); grid
    frequencies whose marginal likelihood is more than ``drop`` nats below the object's maximum
    are left out of the likelihood's sums (their share is below ``exp(-drop)`` times the prior
    ratio). The population grid is then refined to the region holding the mass
    and evaluated again.

    Parameters
    ----------
    grid : FrequencyGrid
    priors : mapping
        ``{"mu_log_frequency": ..., "sigma_log_frequency": ...}`` (``hbm.priors`` shape), as the
        model's (:data:`hbm.dyson_spheres.GRID_PRIORS`).
    n_mu, n_sigma : int
        Quadrature points per axis.
    drop : float
        Threshold (nats) below which grid frequencies are left out.

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        The population points with columns ``mu_log_frequency``, ``sigma_log_frequency`` and
        ``weight`` (summing to one, points of negligible weight removed), and each object's
        frequency weights ``(objects, grid)`` averaged over the population posterior.
    """
    keep = grid.log_likelihood > grid.log_likelihood.max(axis=1, keepdims=True) - drop
    # The log prior density of x = log f, up to -log(sigma) (which cancels between an object's sum
    # and its normalising sum), is -(x - mu)^2 / (2 sigma^2) - x = a x^2 + b x + c: for every point
    # of the population grid and every grid frequency, one matrix product of (a, b, c) with (x^2, x, 1).
    # Expanded, the square loses digits as sigma shrinks (a = -1 / (2 sigma^2)); on chapter 3's grids
    # (sigma from 0.01, log f between -3.7 and 0) each term moves by less than 5e-11 nats.
    powers = [np.stack([x**2, x, np.ones_like(x)]) for x in np.log(grid.frequency)]     # whole grid
    kept = [(grid.log_likelihood[k, keep[k]] - grid.log_likelihood[k].max(), powers[k][:, keep[k]])
            for k in range(len(grid.objects))]

    def log_post(mu, sigma):  # mu, sigma: 1-d arrays of equal length
        total = prior_logpdf(priors["mu_log_frequency"], mu) + prior_logpdf(priors["sigma_log_frequency"], sigma)
        total = total + np.log(sigma)  # the grid is in log sigma
        abc = np.column_stack([-0.5 / sigma**2, mu / sigma**2 - 1.0, -0.5 * (mu / sigma) ** 2])
        for k, (base, kept_powers) in enumerate(kept):
            # as in the model: the truncated prior normalised by its sum over the whole grid
            total += _log_sum_exp(abc @ kept_powers + base) - _log_sum_exp(abc @ powers[k])
        return total

    log_band = np.log(grid.band)
    mu_range = (log_band[:, 0].min(), log_band[:, 1].max())
    log_sigma_range = (np.log(0.01), np.log(2.0))
    for _ in range(2):  # a coarse pass over the whole prior region, then a fine pass where the mass is
        mu_axis = np.linspace(*mu_range, n_mu)
        ls_axis = np.linspace(*log_sigma_range, n_sigma)
        M, LS = (a.ravel() for a in np.meshgrid(mu_axis, ls_axis, indexing="ij"))
        lp = np.concatenate([log_post(M[i:i + 400], np.exp(LS[i:i + 400])) for i in range(0, M.size, 400)])
        w = np.exp(lp - lp.max())
        w /= w.sum()
        heavy = w > 1e-10
        pad_mu, pad_ls = 2 * (mu_axis[1] - mu_axis[0]), 2 * (ls_axis[1] - ls_axis[0])
        mu_range = (M[heavy].min() - pad_mu, M[heavy].max() + pad_mu)
        log_sigma_range = (LS[heavy].min() - pad_ls, LS[heavy].max() + pad_ls)
    points = pd.DataFrame({"mu_log_frequency": M[heavy], "sigma_log_frequency": np.exp(LS[heavy]),
                           "weight": w[heavy] / w[heavy].sum()})
    weights = np.zeros_like(grid.log_likelihood)
    full = grid.log_likelihood + np.log(grid.step)[:, None]
    for start in range(0, len(points), 200):
        part = points.iloc[start:start + 200]
        cond = _log_frequency_prior(grid, part["mu_log_frequency"].to_numpy(), part["sigma_log_frequency"].to_numpy())
        cond += full
        weights += np.einsum("s,skg->kg", part["weight"].to_numpy(), _normalised_exp(cond))
    return points, weights


def population_moments(points: pd.DataFrame) -> pd.DataFrame:
    """Exact posterior mean and sd of the population parameters from :func:`population_quadrature`'s points.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``mu_log_frequency`` and ``sigma_log_frequency``: ``mean``, ``sd``.
    """
    w = points["weight"].to_numpy()
    rows = {}
    for name in ("mu_log_frequency", "sigma_log_frequency"):
        x = points[name].to_numpy()
        mean = float(w @ x)
        rows[name] = {"mean": mean, "sd": float(np.sqrt(w @ (x - mean) ** 2))}
    return pd.DataFrame(rows).T
