"""Exact answers for one object at a time: its frequency posterior on a grid over the whole band.

At a fixed frequency ``f`` the light curve ``a + b sin(2 pi f t) + c cos(2 pi f t)`` is linear in
its coefficients, so with Gaussian (or flat) priors on them the coefficients integrate out exactly:
each object's *marginal* likelihood ``p(y | f)`` is a closed-form function of ``f``. Evaluated on a
grid fine enough to resolve every periodogram peak, over the whole searched band, it gives the exact
frequency posterior under any prior on ``f``, and the population of frequencies enters as a
mixture over the grid (:func:`hbm.dyson_spheres.models.build_grid_model`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from hbm.dyson_spheres.lightcurves import groups, validate_light_curves
from hbm.dyson_spheres.periodogram import MAX_FREQUENCY
from hbm.priors import Prior, prior_logpdf, validate_prior

REL_AMPLITUDE_PRIOR: dict = {"dist": "Normal", "mu": 0.0, "sigma": 0.25}
"""Default prior of each component of the relative amplitude vector ``(b, c) / median flux``:
independent normals of mean zero, i.e. a uniform phase and a Rayleigh(0.25) relative amplitude
(median 0.29, 95% below 0.61)."""

POINTS_PER_PEAK = 100
"""Default grid points per periodogram peak width ``1 / baseline``: a step of 0.00025 cycles/day for
a 40-day baseline, under half the posterior sd of the sharpest peak in the chapter's data (0.0006).
The sums over the grid converge fast (the midpoint rule on a smooth peak); doubling the grid moves
no interval end of the chapter's data by more than 1e-4 (tested)."""


def _design(t: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    arg = 2 * np.pi * np.asarray(frequency, dtype=float)[:, None] * t
    return np.stack([np.ones_like(arg), np.sin(arg), np.cos(arg)], axis=-1)


def _normal_equations(t, y, dy, frequency, prior_precision):
    """``A = X^T W X + P`` and ``h = X^T W y`` at each frequency (shapes ``(G, 3, 3)``, ``(G, 3)``)."""
    w = 1.0 / dy**2
    X = _design(t, frequency)
    XtW = X * w[:, None]
    A = np.einsum("fni,fnj->fij", XtW, X) + np.diag(prior_precision)
    h = np.einsum("fni,n->fi", XtW, y)
    return A, h


def frequency_posterior(t, y, dy, frequency) -> np.ndarray:
    """Exact marginal posterior of one object's frequency, on a grid, with flat priors.

    With the flux written as ``a + b sin(2 pi f t) + c cos(2 pi f t)`` and flat
    priors on ``a, b, c`` and on ``f``, the coefficients integrate out
    analytically: ``p(f | y)`` is proportional to
    ``exp(-chi2_min(f) / 2) / sqrt(det(X^T W X))``, with ``X`` the design
    matrix at ``f``, ``W = diag(1 / dy**2)`` and ``chi2_min`` the weighted
    least-squares chi-square.

    Parameters
    ----------
    t, y, dy : array_like
        Times, fluxes and flux errors of one object.
    frequency : array_like
        An evenly spaced grid of frequencies, fine enough to resolve the peaks.

    Returns
    -------
    numpy.ndarray
        The posterior density on the grid, normalised to integrate to one over it.
    """
    t, y, dy = (np.asarray(v, dtype=float) for v in (t, y, dy))
    frequency = np.asarray(frequency, dtype=float)
    if (frequency.ndim != 1 or frequency.size < 3
            or not np.allclose(np.diff(frequency), frequency[1] - frequency[0])):
        raise ValueError("frequency must be an evenly spaced 1-d grid of at least 3 points")
    A, h = _normal_equations(t, y, dy, frequency, np.zeros(3))
    coef = np.linalg.solve(A, h[..., None])[..., 0]
    chi2 = np.sum(y**2 / dy**2) - np.sum(h * coef, axis=-1)
    log_post = -0.5 * chi2 - 0.5 * np.linalg.slogdet(A)[1]
    density = np.exp(log_post - log_post.max())
    return density / (density.sum() * (frequency[1] - frequency[0]))


@dataclass(frozen=True)
class FrequencyGrid:
    """Each object's marginal likelihood of its frequency on an evenly spaced grid over its band.

    Attributes
    ----------
    objects : list of str
        Object ids, in table order.
    frequency : numpy.ndarray
        ``(objects, grid)``: the grid of each object (cycles/day), from one cycle per baseline
        (or the given minimum) to the maximum frequency.
    step : numpy.ndarray
        ``(objects,)``: the grid spacing of each object.
    log_likelihood : numpy.ndarray
        ``(objects, grid)``: ``log p(y_k | f)`` with the coefficients integrated out, up to a
        constant per object (the flat prior on the mean flux).
    scale : numpy.ndarray
        ``(objects,)``: the median flux that scales the relative amplitude prior.
    rel_amplitude_prior : dict
        The prior of each component of the relative amplitude vector.
    """

    objects: list
    frequency: np.ndarray
    step: np.ndarray
    log_likelihood: np.ndarray
    scale: np.ndarray
    rel_amplitude_prior: dict

    @property
    def band(self) -> np.ndarray:
        """``(objects, 2)``: lowest and highest frequency of each object's grid."""
        return self.frequency[:, [0, -1]]

    def select(self, objects: list[str]) -> FrequencyGrid:
        """The grid of some objects only (each object's grid and weights do not depend on the others').

        Parameters
        ----------
        objects : list of str
            Object ids of this grid, in the order wanted.

        Returns
        -------
        FrequencyGrid
            Those objects' rows, in that order.
        """
        unknown = [name for name in objects if name not in self.objects]
        if unknown:
            raise ValueError(f"no such object in the grid: {unknown} (the grid has {self.objects})")
        rows = [self.objects.index(name) for name in objects]
        return replace(self, objects=list(objects), frequency=self.frequency[rows], step=self.step[rows],
                       log_likelihood=self.log_likelihood[rows], scale=self.scale[rows])


def frequency_grid(
    df: pd.DataFrame,
    *,
    minimum_frequency: float | None = None,
    maximum_frequency: float = MAX_FREQUENCY,
    points_per_peak: int = POINTS_PER_PEAK,
    rel_amplitude_prior: Prior = REL_AMPLITUDE_PRIOR,
) -> FrequencyGrid:
    """Exact marginal likelihood of each object's frequency over the whole searched band.

    The flux is ``a + b sin(2 pi f t) + c cos(2 pi f t) = m (1 + r sin(2 pi f t + phi))`` with
    ``a = m``, ``(b, c) = m r (cos phi, sin phi)``. The mean flux ``a`` has a flat prior and
    ``(b, c) / s`` independent ``Normal(0, sigma)`` priors, ``s`` the object's median flux: the
    relative amplitude vector of the chapter's model, scaled by the median flux instead of the
    unknown mean flux (they differ by about 1%) so that the model stays linear in ``(a, b, c)``.
    Then, with ``A = X^T W X + P`` (``P`` the prior precision) and ``h = X^T W y``,

        log p(y | f) = h^T A^-1 h / 2 - log det(A) / 2 + const,

    exactly, at every frequency of the grid.

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table.
    minimum_frequency : float, optional
        Lowest frequency (cycles/day); default one cycle per object baseline.
    maximum_frequency : float, default :data:`MAX_FREQUENCY`
        Highest frequency (cycles/day).
    points_per_peak : int, default :data:`POINTS_PER_PEAK`
        Grid points per ``1 / baseline``; every object gets the same number of points.
    rel_amplitude_prior : dict, default :data:`REL_AMPLITUDE_PRIOR`
        ``{"dist": "Normal", "mu": 0.0, "sigma": ...}``: the prior of each component of the
        relative amplitude vector (it must be a normal of mean zero for the exact integral).

    Returns
    -------
    FrequencyGrid
    """
    df = validate_light_curves(df)
    spec = validate_prior(rel_amplitude_prior, name="rel_amplitude_prior")
    if spec["dist"] != "Normal" or spec["mu"] != 0:
        raise ValueError("rel_amplitude_prior must be {'dist': 'Normal', 'mu': 0.0, 'sigma': ...}: the "
                         f"coefficients integrate out exactly only under a zero-mean normal, got {spec}")
    if isinstance(points_per_peak, bool) or not isinstance(points_per_peak, (int, np.integer)) \
            or points_per_peak < 10:
        raise ValueError(f"points_per_peak must be an integer of at least 10, got {points_per_peak!r}")
    data = list(groups(df))
    baselines = np.array([t.max() - t.min() for _, t, _, _ in data])
    lows = 1 / baselines if minimum_frequency is None else np.full(len(data), float(minimum_frequency))
    if not np.all((0 < lows) & (lows < maximum_frequency)):
        raise ValueError(f"need 0 < minimum_frequency < maximum_frequency ({maximum_frequency:g}) for every "
                         f"object, got minimum frequencies {np.round(lows, 4).tolist()}")
    n_grid = int(np.ceil((maximum_frequency - lows.min()) * baselines.max() * points_per_peak)) + 1
    frequency = np.array([np.linspace(lo, maximum_frequency, n_grid) for lo in lows])
    loglik, scale = np.empty_like(frequency), np.empty(len(data))
    for k, (_, t, y, dy) in enumerate(data):
        scale[k] = abs(float(np.median(y))) or 1.0
        prior_var = (spec["sigma"] * scale[k]) ** 2
        A, h = _normal_equations(t, y, dy, frequency[k], np.array([0.0, 1 / prior_var, 1 / prior_var]))
        coef = np.linalg.solve(A, h[..., None])[..., 0]
        loglik[k] = (0.5 * np.sum(h * coef, axis=-1) - 0.5 * np.linalg.slogdet(A)[1]
                     - 0.5 * np.sum(y**2 / dy**2) - np.log(prior_var))
    return FrequencyGrid(objects=[name for name, *_ in data], frequency=frequency,
                         step=frequency[:, 1] - frequency[:, 0], log_likelihood=loglik, scale=scale,
                         rel_amplitude_prior=spec)


def window_mass(
    df: pd.DataFrame,
    windows: pd.DataFrame,
    *,
    frequency_prior: Prior | None = None,
    maximum_frequency: float = MAX_FREQUENCY,
    n_grid: int = 20000,
) -> pd.Series:
    """Posterior probability that each object's frequency lies in its window.

    Uses :func:`frequency_posterior` (flat priors on the coefficients) over the whole search band,
    from one cycle per baseline to ``maximum_frequency``, times a prior on the frequency:
    log-uniform (the model without pooling) or ``frequency_prior``, for example a population
    ``{"dist": "LogNormal", "mu": mu_f, "sigma": sigma_f}``.

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table.
    windows : pandas.DataFrame
        As returned by :func:`hbm.dyson_spheres.frequency_windows`.
    frequency_prior : dict, optional
        A prior on the frequency (``hbm.priors`` shape); default log-uniform.
    maximum_frequency : float, default :data:`MAX_FREQUENCY`
        Upper end of the band (cycles/day).
    n_grid : int, default 20000
        Grid points over the band (they must resolve peaks of width 1 / baseline).

    Returns
    -------
    pandas.Series
        The probability per object, indexed by ``object_id``.
    """
    out = {}
    for name, t, y, dy in groups(validate_light_curves(df)):
        f = np.linspace(1 / (t.max() - t.min()), maximum_frequency, n_grid)
        log_prior = -np.log(f) if frequency_prior is None else prior_logpdf(frequency_prior, f)
        density = frequency_posterior(t, y, dy, f) * np.exp(log_prior - log_prior.max())
        inside = (f >= windows.loc[name, "lower"]) & (f <= windows.loc[name, "upper"])
        out[name] = float(density[inside].sum() / density.sum())
    return pd.Series(out, name="window_mass").rename_axis("object_id")


def coefficient_draws(t, y, dy, frequency, scale: float, rel_amplitude_prior: Prior, rng) -> np.ndarray:
    """Draws of ``(a, b, c)`` from their exact Gaussian posterior given each frequency in ``frequency``.

    Returns
    -------
    numpy.ndarray
        ``(len(frequency), 3)``.
    """
    prior_var = (float(rel_amplitude_prior["sigma"]) * scale) ** 2
    A, h = _normal_equations(np.asarray(t, float), np.asarray(y, float), np.asarray(dy, float),
                             np.asarray(frequency, float), np.array([0.0, 1 / prior_var, 1 / prior_var]))
    mean = np.linalg.solve(A, h[..., None])[..., 0]
    # A = L L^T; beta = mean + L^-T z has covariance A^-1
    L = np.linalg.cholesky(A)
    z = rng.standard_normal(mean.shape)
    return mean + np.linalg.solve(np.swapaxes(L, -1, -2), z[..., None])[..., 0]
