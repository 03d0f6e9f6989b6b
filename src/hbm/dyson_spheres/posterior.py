"""Using a posterior: predicted light curves, exact draws of the grid model, recovery of the truth."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

import hbm
from hbm.dyson_spheres.exact import FrequencyGrid, coefficient_draws
from hbm.dyson_spheres.mixture import frequency_weights
from hbm.dyson_spheres.lightcurves import groups, validate_light_curves


def predict_flux(posterior: xr.Dataset, object_id: str, times) -> xr.DataArray:
    """Model light curve of one object at given times, for every posterior draw.

    Parameters
    ----------
    posterior : xarray.Dataset
        ``idata.posterior`` of a :func:`build_model` fit (or :func:`grid_posterior`).
    object_id : str
        The object.
    times : array_like
        Times (days).

    Returns
    -------
    xarray.DataArray
        Dimensions ``(chain, draw, time)``: ``m (1 + r sin(2 pi f t + phi))``.
    """
    if object_id not in posterior["object"].values:
        raise ValueError(f"object {object_id!r} is not in the posterior; it has "
                         f"{list(posterior['object'].values)}")
    p = posterior.sel(object=object_id)
    t = xr.DataArray(np.asarray(times, dtype=float), dims="time")
    return p["mean_flux"] * (1 + p["rel_amplitude"] * np.sin(2 * np.pi * p["frequency"] * t + p["phase"]))


def grid_posterior(
    df: pd.DataFrame,
    grid: FrequencyGrid,
    population: xr.Dataset | None = None,
    *,
    random_seed: int,
    chains: int = 4,
    draws: int = 1000,
    chunk: int = 250,
) -> xr.Dataset:
    """Exact draws of every object's parameters under the grid model.

    For each draw of the population (or, without one, from the log-uniform prior), each
    object's frequency is drawn from its grid weights (uniformly within the drawn grid cell),
    then its mean flux ``a`` and amplitude coefficients ``(b, c)`` from their Gaussian posterior
    at that frequency.

    Parameters
    ----------
    df : pandas.DataFrame
        The light-curve table the grid was computed from.
    grid : FrequencyGrid
    population : xarray.Dataset, optional
        ``idata.posterior`` of :func:`build_grid_model` (``mu_log_frequency``,
        ``sigma_log_frequency``); its chains and draws are kept. Default: no population.
    random_seed : int
        Passed through :func:`hbm.seed`.
    chains, draws : int
        Shape of the output without a population.
    chunk : int
        Draws processed at a time (memory).

    Returns
    -------
    xarray.Dataset
        ``frequency``, ``mean_flux``, ``rel_amplitude``, ``amplitude`` and ``phase``, dims
        ``(chain, draw, object)``, plus the population's variables if given.
    """
    rng = np.random.default_rng(hbm.seed(random_seed))
    if population is None:
        shape = (chains, draws)
        independent = frequency_weights(grid)
    else:
        shape = (population.sizes["chain"], population.sizes["draw"])
        mu = population["mu_log_frequency"].values.ravel()
        sigma = population["sigma_log_frequency"].values.ravel()
    n_draws = shape[0] * shape[1]
    out = {v: np.empty((n_draws, len(grid.objects))) for v in ("frequency", "mean_flux", "rel_amplitude", "phase")}
    data = {name: (t, y, dy) for name, t, y, dy in groups(validate_light_curves(df))}
    for k, name in enumerate(grid.objects):
        cells = np.empty(n_draws, dtype=int)
        log_f = np.log(grid.frequency[k])
        for start in range(0, n_draws, chunk):
            part = slice(start, min(start + chunk, n_draws))
            if population is None:
                cdf = np.cumsum(independent[k])[None, :]
            else:
                logw = grid.log_likelihood[k] - 0.5 * ((log_f - mu[part, None]) / sigma[part, None]) ** 2 - log_f
                w = np.exp(logw - logw.max(axis=1, keepdims=True))
                cdf = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
            u = rng.uniform(size=(part.stop - part.start, 1))
            cells[part] = np.minimum((cdf < u).sum(axis=1), log_f.size - 1)
        f = grid.frequency[k, cells] + grid.step[k] * (rng.uniform(size=n_draws) - 0.5)
        t, y, dy = data[name]
        a, b, c = coefficient_draws(t, y, dy, f, grid.scale[k], grid.rel_amplitude_prior, rng).T
        out["frequency"][:, k] = f
        out["mean_flux"][:, k] = a
        out["rel_amplitude"][:, k] = np.hypot(b, c) / a
        out["phase"][:, k] = np.arctan2(c, b)
    dims = ("chain", "draw", "object")
    ds = xr.Dataset({v: (dims, x.reshape(*shape, -1)) for v, x in out.items()},
                    coords={"chain": np.arange(shape[0]), "draw": np.arange(shape[1]), "object": grid.objects})
    ds["amplitude"] = ds["mean_flux"] * ds["rel_amplitude"]
    if population is not None:
        ds = ds.assign(population[["mu_log_frequency", "sigma_log_frequency"]].reset_coords(drop=True))
    return ds


TRUTH_KEYS = {"mean_flux": "mean_flux", "rel_amplitude": "relative_amplitude", "frequency": "frequency",
              "phase": "phase"}
"""Posterior variable names and the matching keys of ``dyson_spheres_truth.json``."""


def recovery_table(idata: az.InferenceData, truth: dict, *, hdi_prob: float = 0.94) -> pd.DataFrame:
    """Posterior summaries of each object's parameters beside the true values.

    Parameters
    ----------
    idata : arviz.InferenceData
        A :func:`build_model` fit, or an InferenceData of :func:`grid_posterior` draws.
    truth : dict
        ``hbm.data.load_truth("dyson_spheres")``.
    hdi_prob : float, default 0.94
        Probability of the highest-density intervals.

    Returns
    -------
    pandas.DataFrame
        One row per object and parameter (``mean_flux``, ``rel_amplitude``,
        ``frequency``, ``phase``): ``truth``, ``mean``, ``lower``, ``upper``
        (HDI) and ``inside``. The phase interval is circular: it is computed
        after rotating the draws so that their circular mean is zero, and the
        truth is compared on the same circle.
    """
    post = idata.posterior
    rows = []
    for name in post["object"].values:
        true = truth["objects"][str(name)]
        for param, key in TRUTH_KEYS.items():
            draws = post[param].sel(object=name).values.ravel()
            value = float(true[key])
            if param == "phase":
                centre = float(np.angle(np.mean(np.exp(1j * draws))))
                wrap = lambda x: np.angle(np.exp(1j * (np.asarray(x) - centre)))  # noqa: E731
                lo, hi = az.hdi(wrap(draws), hdi_prob=hdi_prob)
                mean, offset = centre, float(wrap(value))
                inside = bool(lo <= offset <= hi)
                lo, hi = lo + centre, hi + centre
            else:
                lo, hi = az.hdi(draws, hdi_prob=hdi_prob)
                mean, inside = float(draws.mean()), bool(lo <= value <= hi)
            rows.append({"object_id": str(name), "parameter": param, "truth": value, "mean": mean,
                         "lower": float(lo), "upper": float(hi), "inside": inside})
    return pd.DataFrame(rows)
