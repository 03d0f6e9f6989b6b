"""Chapter 3, the Dyson Spheres: periodograms and a hierarchical population of sinusoids.

Object ``k`` is observed at a few irregular times ``t`` with flux ``y +- dy``
and modelled as a single sinusoid about its mean flux ``m_k``,

    y ~ Normal(m_k (1 + r_k sin(2 pi f_k t + phi_k)), dy),

with relative amplitude ``r_k``, frequency ``f_k`` (cycles per day) and phase
``phi_k``. This module holds

* validation of a light-curve table (:func:`check_light_curves`);
* Lomb-Scargle periodograms and their highest peaks, each with the frequency
  window between the two periodogram minima around it (:func:`periodograms`,
  :func:`top_peaks`, :func:`frequency_windows`);
* the exact marginal posterior of one object's frequency when the three linear
  coefficients have flat priors (:func:`frequency_posterior`), an independent
  check on the samplers;
* the PyMC model (:func:`build_model`), hierarchical (``pooling="partial"``) or
  with independent objects (``pooling="none"``), and helpers to predict light
  curves from a posterior and to compare a posterior with the simulation truth.

The frequency posterior of a sparse light curve has many modes (one per
periodogram peak). The model samples each frequency inside a window around its
highest periodogram peak, that is, the posterior *conditional on* the frequency
lying in that window; :func:`frequency_posterior` measures how much posterior
mass the window holds.
"""

from __future__ import annotations

from collections.abc import Mapping

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from astropy.timeseries import LombScargle

from hbm.data import DYSON_SPHERES, validate

COLUMNS = tuple(DYSON_SPHERES)
"""The columns a light-curve table must have (see ``data/README.md``)."""

MAX_FREQUENCY = 1.0
"""Default upper end of the frequency search, cycles per day (periods of a day or longer)."""

SAMPLES_PER_PEAK = 50
"""Default oversampling of the periodogram grid (points per peak width 1 / baseline)."""

MIN_POINTS = 6
"""Fewest observations an object needs: the sinusoid has four parameters."""

PRIORS: dict[str, tuple[float, float]] = {
    "mu_log_rel_amplitude": (-2.0, 1.0),
    "mu_log_frequency": (float(np.log(0.15)), 1.0),
    "sigma_log_rel_amplitude": (0.5, 0.0),
    "sigma_log_frequency": (0.5, 0.0),
    "log_mean_flux_sd": (2.0, 0.0),
}
"""Default priors. ``mu_*`` are ``(mean, sd)`` of normal priors on the population
means of log relative amplitude and log frequency (a relative amplitude of
``exp(-2) = 0.14`` and a frequency of 0.15 cycles/day, each within a factor
``e`` at one sd); ``sigma_*`` are ``(scale, 0)`` of half-normal priors on the
population standard deviations; ``log_mean_flux_sd`` is the sd of the normal
prior on each log mean flux, centred on the log of the object's median flux.
The model without pooling gives each log relative amplitude the prior of
``mu_log_rel_amplitude``. The correlation of the two population log-normals has
an LKJ(2) prior, density proportional to ``1 - rho**2``."""


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def check_light_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Validate a light-curve table.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``object_id``, ``time``, ``flux`` and ``flux_err``, one row per
        observation, each object's rows in increasing time (as
        :func:`hbm.data.load_dyson_spheres` returns them).

    Returns
    -------
    pandas.DataFrame
        A copy with ``object_id`` as plain strings, the numbers as float, the
        rows grouped by object in order of first appearance and a fresh index.

    Raises
    ------
    ValueError
        If a column is missing, a value is missing or not finite, an
        uncertainty is not positive, an object has fewer than
        :data:`MIN_POINTS` observations, or an object's times are not strictly
        increasing (a duplicate time or rows out of order). The message names
        the object and the row.
    """
    out = validate(df, DYSON_SPHERES, source="light-curve table", label="object_id")
    for name, group in out.groupby("object_id", sort=False):
        if len(group) < MIN_POINTS:
            raise ValueError(f"object {name!r} has {len(group)} observations; at least {MIN_POINTS} are needed "
                             "to fit a sinusoid (mean flux, amplitude, frequency, phase)")
        steps = np.diff(group["time"].to_numpy())
        if np.any(steps <= 0):
            i = int(np.flatnonzero(steps <= 0)[0])
            row, prev = int(group.index[i + 1]), int(group.index[i])
            what = "a duplicate time" if steps[i] == 0 else "rows out of time order"
            raise ValueError(
                f"object {name!r}, row {row}: time {group['time'].iloc[i + 1]} follows {group['time'].iloc[i]} "
                f"(row {prev}), {what}; each object's times must be strictly increasing "
                "(sort with df.sort_values(['object_id', 'time']) and remove repeated observations)")
    order = pd.Index(out["object_id"].unique())
    out = out.iloc[np.argsort(order.get_indexer(out["object_id"]), kind="stable")]
    return out.reset_index(drop=True)


def light_curve_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per-object summary of the light curves, with a moment estimate of the relative amplitude.

    A sinusoid of amplitude ``A`` sampled at random phases has variance
    ``A**2 / 2``; the measurement noise adds ``mean(dy**2)``. Hence the
    *excess-variance* estimate ``r = sqrt(2 max(s**2 - mean(dy**2), 0)) / mean(y)``.

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table (see :func:`check_light_curves`).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``object_id``: ``n`` (observations), ``baseline`` (days),
        ``mean_flux``, ``relative_scatter`` (sample sd of the flux over its
        mean), ``relative_noise`` (root-mean-square flux error over the mean
        flux) and ``rel_amplitude_estimate``.
    """
    df = check_light_curves(df)
    g = df.groupby("object_id", sort=False)
    out = pd.DataFrame({"n": g.size(), "baseline": g["time"].max() - g["time"].min(), "mean_flux": g["flux"].mean()})
    var = g["flux"].var(ddof=1)
    noise = g["flux_err"].apply(lambda e: np.mean(e**2))
    out["relative_scatter"] = np.sqrt(var) / out["mean_flux"]
    out["relative_noise"] = np.sqrt(noise) / out["mean_flux"]
    out["rel_amplitude_estimate"] = np.sqrt(2 * np.clip(var - noise, 0, None)) / out["mean_flux"]
    out.index.name = "object_id"
    return out


def _groups(df: pd.DataFrame):
    for name, group in df.groupby("object_id", sort=False):
        yield name, group["time"].to_numpy(), group["flux"].to_numpy(), group["flux_err"].to_numpy()


# ---------------------------------------------------------------------------
# Periodograms
# ---------------------------------------------------------------------------


def periodograms(
    df: pd.DataFrame,
    *,
    minimum_frequency: float | None = None,
    maximum_frequency: float = MAX_FREQUENCY,
    samples_per_peak: int = SAMPLES_PER_PEAK,
) -> dict[str, tuple[LombScargle, np.ndarray, np.ndarray]]:
    """Lomb-Scargle periodogram of every object, weighted by the flux errors.

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table (see :func:`check_light_curves`).
    minimum_frequency : float, optional
        Lowest frequency searched, cycles per day; default one cycle over the
        object's baseline, ``1 / (t_max - t_min)``.
    maximum_frequency : float, default :data:`MAX_FREQUENCY`
        Highest frequency searched, cycles per day.
    samples_per_peak : int, default :data:`SAMPLES_PER_PEAK`
        Grid points per peak width (``1 / baseline``).

    Returns
    -------
    dict
        ``{object_id: (LombScargle, frequency, power)}`` with the standard
        normalisation, ``power = 1 - chi2(f) / chi2_constant``.
    """
    df = check_light_curves(df)
    if not maximum_frequency > 0:
        raise ValueError(f"maximum_frequency must be positive, got {maximum_frequency}")
    out = {}
    for name, t, y, dy in _groups(df):
        fmin = 1.0 / (t.max() - t.min()) if minimum_frequency is None else float(minimum_frequency)
        if not 0 < fmin < maximum_frequency:
            raise ValueError(f"object {name!r}: need 0 < minimum_frequency ({fmin:g}) < maximum_frequency "
                             f"({maximum_frequency:g})")
        ls = LombScargle(t, y, dy)
        frequency, power = ls.autopower(minimum_frequency=fmin, maximum_frequency=maximum_frequency,
                                        samples_per_peak=samples_per_peak)
        out[name] = (ls, frequency, power)
    return out


def _basin(power: np.ndarray, i: int) -> tuple[int, int]:
    """Indices of the periodogram minima on either side of the peak at ``i``."""
    lo = i
    while lo > 0 and power[lo - 1] < power[lo]:
        lo -= 1
    hi = i
    while hi < power.size - 1 and power[hi + 1] < power[hi]:
        hi += 1
    return lo, hi


def top_peaks(df: pd.DataFrame, n_peaks: int = 3, **search) -> pd.DataFrame:
    """The highest periodogram peaks of every object.

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table (see :func:`check_light_curves`).
    n_peaks : int, default 3
        Peaks to return per object (fewer if the periodogram has fewer).
    **search
        ``minimum_frequency``, ``maximum_frequency``, ``samples_per_peak`` of
        :func:`periodograms`.

    Returns
    -------
    pandas.DataFrame
        One row per peak, highest first within each object: ``object_id``,
        ``rank`` (1 = highest), ``frequency`` (cycles/day), ``period`` (days),
        ``power``, ``false_alarm_probability`` (Baluev 2008 bound over the
        searched band: the chance that pure noise gives a peak this high
        somewhere in it), and ``lower``, ``upper``, the frequencies of the
        periodogram minima on either side of the peak.
    """
    if isinstance(n_peaks, bool) or not isinstance(n_peaks, (int, np.integer)) or n_peaks < 1:
        raise ValueError(f"n_peaks must be a positive integer, got {n_peaks!r}")
    rows = []
    for name, (ls, frequency, power) in periodograms(df, **search).items():
        padded = np.concatenate([[-np.inf], power, [-np.inf]])
        is_peak = (padded[1:-1] > padded[:-2]) & (padded[1:-1] >= padded[2:])
        peaks = np.flatnonzero(is_peak)
        peaks = peaks[np.argsort(power[peaks], kind="stable")[::-1]][:n_peaks]
        fap = np.atleast_1d(ls.false_alarm_probability(power[peaks], minimum_frequency=frequency[0],
                                                       maximum_frequency=frequency[-1]))
        for rank, (i, p) in enumerate(zip(peaks, fap), start=1):
            lo, hi = _basin(power, i)
            rows.append({"object_id": name, "rank": rank, "frequency": frequency[i], "period": 1 / frequency[i],
                         "power": power[i], "false_alarm_probability": float(p),
                         "lower": frequency[lo], "upper": frequency[hi]})
    return pd.DataFrame(rows)


def frequency_windows(df: pd.DataFrame, **search) -> pd.DataFrame:
    """The frequency window of each object: between the minima around its highest peak.

    Within the window the periodogram, the profile likelihood of the frequency,
    rises monotonically to the peak and falls again, so the posterior
    restricted to it has one mode.

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table.
    **search
        Options of :func:`periodograms`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``object_id`` with columns ``peak``, ``lower`` and ``upper``
        (cycles/day).
    """
    peaks = top_peaks(df, n_peaks=1, **search)
    return peaks.set_index("object_id")[["frequency", "lower", "upper"]].rename(columns={"frequency": "peak"})


def window_function(t: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """Spectral window of a set of observation times: the periodogram of a constant.

    Parameters
    ----------
    t : array_like
        Observation times.
    frequency : array_like
        Frequencies at which to evaluate it.

    Returns
    -------
    numpy.ndarray
        The power of ``LombScargle(t, 1, fit_mean=False, center_data=False)``,
        whose peaks are the frequencies the sampling itself creates (aliases
        appear at a true frequency plus or minus these).
    """
    t = np.asarray(t, dtype=float)
    return LombScargle(t, np.ones_like(t), fit_mean=False, center_data=False).power(np.asarray(frequency))


# ---------------------------------------------------------------------------
# Exact single-object frequency posterior
# ---------------------------------------------------------------------------


def frequency_posterior(t, y, dy, frequency) -> np.ndarray:
    """Exact marginal posterior of one object's frequency, on a grid.

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
        The posterior density on the grid, normalised to integrate to one
        over it.
    """
    t, y, dy = (np.asarray(v, dtype=float) for v in (t, y, dy))
    frequency = np.asarray(frequency, dtype=float)
    if frequency.ndim != 1 or frequency.size < 3 or not np.allclose(np.diff(frequency), frequency[1] - frequency[0]):
        raise ValueError("frequency must be an evenly spaced 1-d grid of at least 3 points")
    w = 1.0 / dy**2
    arg = 2 * np.pi * frequency[:, None] * t
    X = np.stack([np.ones_like(arg), np.sin(arg), np.cos(arg)], axis=-1)
    XtW = X * w[:, None]
    F = np.einsum("fni,fnj->fij", XtW, X)
    b = np.einsum("fni,n->fi", XtW, y)
    coef = np.linalg.solve(F, b[..., None])[..., 0]
    chi2 = np.sum(w * y**2) - np.sum(b * coef, axis=-1)
    log_post = -0.5 * chi2 - 0.5 * np.linalg.slogdet(F)[1]
    density = np.exp(log_post - log_post.max())
    return density / (density.sum() * (frequency[1] - frequency[0]))


def window_mass(
    df: pd.DataFrame,
    windows: pd.DataFrame,
    *,
    population: tuple[float, float] | None = None,
    maximum_frequency: float = MAX_FREQUENCY,
    n_grid: int = 20000,
) -> pd.Series:
    """Posterior probability that each object's frequency lies in its window.

    Uses :func:`frequency_posterior` over the whole search band, from one
    cycle per baseline to ``maximum_frequency``, times a prior on the
    frequency: log-uniform (the model without pooling) or, with
    ``population = (mu, sigma)``, log-normal (a population with those
    log-frequency mean and sd).

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table.
    windows : pandas.DataFrame
        As returned by :func:`frequency_windows`.
    population : (float, float), optional
        Mean and sd of log frequency of a log-normal prior.
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
    for name, t, y, dy in _groups(check_light_curves(df)):
        f = np.linspace(1 / (t.max() - t.min()), maximum_frequency, n_grid)
        log_prior = -np.log(f)
        if population is not None:
            mu, sigma = population
            log_prior += -0.5 * ((np.log(f) - mu) / sigma) ** 2
        density = frequency_posterior(t, y, dy, f) * np.exp(log_prior - log_prior.max())
        inside = (f >= windows.loc[name, "lower"]) & (f <= windows.loc[name, "upper"])
        out[name] = float(density[inside].sum() / density.sum())
    return pd.Series(out, name="window_mass").rename_axis("object_id")


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


def _least_squares_start(df: pd.DataFrame, objects: list[str], frequency: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted least-squares sinusoid of each object at a given frequency: the sampler's starting point."""
    median_flux, amp_xy = [], []
    for name, f in zip(objects, frequency):
        g = df[df["object_id"] == name]
        t, y, w = g["time"].to_numpy(), g["flux"].to_numpy(), 1 / g["flux_err"].to_numpy()
        X = np.column_stack([np.ones_like(t), np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)])
        (a, b, c), *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
        median_flux.append(abs(float(np.median(y))) or 1.0)
        scale = a if a > 0 else median_flux[-1]
        amp_xy.append([b / scale, c / scale])
    return {"median_flux": np.array(median_flux), "frequency": np.asarray(frequency, dtype=float),
            "rel_amplitude_xy": np.array(amp_xy)}


def build_model(
    df: pd.DataFrame,
    *,
    windows: pd.DataFrame | None = None,
    pooling: str = "partial",
    priors: Mapping[str, tuple[float, float]] | None = None,
) -> pm.Model:
    """Sinusoid model of every object's light curve, with or without a population.

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table (see :func:`check_light_curves`); one or more objects.
    windows : pandas.DataFrame, optional
        Indexed by ``object_id`` with columns ``lower`` and ``upper``: each
        object's frequency window (cycles/day). Default
        :func:`frequency_windows` of ``df``, the basin of the highest
        periodogram peak.
    pooling : {"partial", "none"}, default "partial"
        ``"partial"``: log relative amplitudes and log frequencies are drawn
        from a population, a bivariate normal with means ``mu``, standard
        deviations ``sigma`` and correlation ``rho``. ``"none"``: independent
        objects, each log relative amplitude with a fixed normal prior and each
        frequency log-uniform in its window.
    priors : mapping, optional
        Overrides of :data:`PRIORS`.

    Returns
    -------
    pymc.Model
        Coordinates ``object``, ``obs`` (the rows of ``df``), ``xy`` and, when
        pooled, ``param``. Free variables: ``log_mean_flux``, ``frequency``
        (bounded to the window), ``rel_amplitude_xy`` (the vector
        ``(r cos phi, r sin phi)``, whose length is the relative amplitude and
        whose angle is the phase, so the phase has no artificial boundary; its
        components are flat on ``(-1, 1)``) and,
        when pooled, ``mu``, ``sigma`` and ``rho_unit`` (``(1 + rho) / 2``).
        Deterministics: ``mean_flux``, ``rel_amplitude``, ``amplitude``,
        ``phase`` (in ``(-pi, pi]``) and ``rho``. Observed: ``flux``.

    Notes
    -----
    Restricting each frequency to its window samples the posterior conditional
    on the frequency lying in the window. Hence the population density enters
    as a :func:`pymc.Potential` on the window-bounded frequency and is *not*
    renormalised to the window (a truncated population would be a different
    model, in which each object's window is known before the data). The
    priors on ``(log r, phi)`` enter as a potential on ``rel_amplitude_xy``
    with the Jacobian ``1 / r**2`` of the change of variables, and the phase is
    uniform on the circle. The sampler starts from the weighted least-squares
    sinusoid at the periodogram peak (``frequency`` and ``rel_amplitude_xy``
    carry it as ``initval``).
    """
    if pooling not in ("partial", "none"):
        raise ValueError(f"pooling must be 'partial' or 'none', got {pooling!r}")
    df = check_light_curves(df)
    prior = dict(PRIORS)
    if priors:
        unknown = set(priors) - set(PRIORS)
        if unknown:
            raise ValueError(f"unknown prior(s) {sorted(unknown)}; known: {sorted(PRIORS)}")
        prior.update(priors)
    objects = list(pd.unique(df["object_id"]))
    if windows is None:
        windows = frequency_windows(df)
    missing = [o for o in objects if o not in windows.index]
    if missing:
        raise ValueError(f"windows has no frequency window for object(s) {missing}")
    lower = windows.loc[objects, "lower"].to_numpy(dtype=float)
    upper = windows.loc[objects, "upper"].to_numpy(dtype=float)
    if not np.all((0 < lower) & (lower < upper)):
        raise ValueError("each frequency window needs 0 < lower < upper")

    idx = pd.Index(objects).get_indexer(df["object_id"])
    t = df["time"].to_numpy()
    peak = windows.loc[objects, "peak"].to_numpy(dtype=float) if "peak" in windows else (lower + upper) / 2
    start = _least_squares_start(df, objects, np.clip(peak, lower, upper))
    coords = {"object": objects, "obs": np.arange(len(df)), "xy": ["x", "y"]}
    if pooling == "partial":
        coords["param"] = ["log_rel_amplitude", "log_frequency"]

    with pm.Model(coords=coords) as model:
        log_m = pm.Normal("log_mean_flux", mu=np.log(start["median_flux"]), sigma=prior["log_mean_flux_sd"][0],
                          dims="object")
        freq = pm.Uniform("frequency", lower=lower, upper=upper, dims="object", initval=start["frequency"])
        # The relative amplitude vector (r cos phi, r sin phi): the light curve is linear in it, so its
        # posterior is close to Gaussian, and its angle, the phase, is circular by construction.
        # Its components are flat on (-1, 1), which allows any relative amplitude below 1 at any phase (the
        # flux cannot go negative); the population density of (log r, phi) is added as a potential.
        amp_xy = pm.Uniform("rel_amplitude_xy", -1.0, 1.0, dims=("object", "xy"),
                            initval=np.clip(start["rel_amplitude_xy"], -0.9, 0.9))
        r = pm.Deterministic("rel_amplitude", pt.sqrt(pt.sum(amp_xy**2, axis=1)), dims="object")
        log_r, log_f = pt.log(r), pt.log(freq)
        # Density of (x, y) = density of (log r, phi) / r**2, with phi uniform on the circle.
        jacobian = -2 * log_r - np.log(2 * np.pi)
        if pooling == "partial":
            (mr, sr), (mf, sf) = prior["mu_log_rel_amplitude"], prior["mu_log_frequency"]
            mu = pm.Normal("mu", mu=[mr, mf], sigma=[sr, sf], dims="param")
            sigma = pm.HalfNormal("sigma", sigma=[prior["sigma_log_rel_amplitude"][0],
                                                  prior["sigma_log_frequency"][0]], dims="param")
            # LKJ(2) prior on the 2 x 2 correlation matrix: (1 + rho) / 2 ~ Beta(2, 2).
            rho = pm.Deterministic("rho", 2 * pm.Beta("rho_unit", 2.0, 2.0) - 1)
            # (log r, log f) ~ bivariate normal, written as log f ~ Normal(mu_f, sigma_f) and
            # log r | log f ~ Normal(mu_r + rho sigma_r (log f - mu_f) / sigma_f, sigma_r sqrt(1 - rho^2)).
            log_r_given_f = pm.Normal.dist(mu[0] + rho * sigma[0] * (log_f - mu[1]) / sigma[1],
                                           sigma[0] * pt.sqrt(1 - rho**2))
            pm.Potential("population_frequency", pm.logp(pm.Normal.dist(mu[1], sigma[1]), log_f) - log_f,
                         dims="object")
            pm.Potential("population_amplitude", pm.logp(log_r_given_f, log_r) + jacobian, dims="object")
        else:
            pm.Potential("log_uniform_frequency", -log_f, dims="object")
            pm.Potential("prior_amplitude", pm.logp(pm.Normal.dist(*prior["mu_log_rel_amplitude"]), log_r)
                         + jacobian, dims="object")

        m = pm.Deterministic("mean_flux", pt.exp(log_m), dims="object")
        pm.Deterministic("amplitude", m * r, dims="object")
        pm.Deterministic("phase", pt.arctan2(amp_xy[:, 1], amp_xy[:, 0]), dims="object")

        arg = 2 * np.pi * freq[idx] * t
        # r sin(2 pi f t + phi) = r cos(phi) sin(2 pi f t) + r sin(phi) cos(2 pi f t)
        wave = amp_xy[idx, 0] * pt.sin(arg) + amp_xy[idx, 1] * pt.cos(arg)
        pm.Normal("flux", mu=m[idx] * (1 + wave), sigma=df["flux_err"].to_numpy(),
                  observed=df["flux"].to_numpy(), dims="obs")
    return model


# ---------------------------------------------------------------------------
# Using a posterior
# ---------------------------------------------------------------------------


def predict_flux(posterior: xr.Dataset, object_id: str, times) -> xr.DataArray:
    """Model light curve of one object at given times, for every posterior draw.

    Parameters
    ----------
    posterior : xarray.Dataset
        ``idata.posterior`` of a :func:`build_model` fit.
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
        raise ValueError(f"object {object_id!r} is not in the posterior; it has {list(posterior['object'].values)}")
    p = posterior.sel(object=object_id)
    t = xr.DataArray(np.asarray(times, dtype=float), dims="time")
    return p["mean_flux"] * (1 + p["rel_amplitude"] * np.sin(2 * np.pi * p["frequency"] * t + p["phase"]))


TRUTH_KEYS = {"mean_flux": "mean_flux", "rel_amplitude": "relative_amplitude", "frequency": "frequency",
              "phase": "phase"}
"""Posterior variable names and the matching keys of ``dyson_spheres_truth.json``."""


def recovery_table(idata: az.InferenceData, truth: dict, *, hdi_prob: float = 0.94) -> pd.DataFrame:
    """Posterior summaries of each object's parameters beside the true values.

    Parameters
    ----------
    idata : arviz.InferenceData
        A :func:`build_model` fit.
    truth : dict
        :func:`hbm.data.load_truth` ``("dyson_spheres")``.
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
