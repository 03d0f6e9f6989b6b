"""Lomb-Scargle periodograms, their peaks and windows, and the spectral window of a sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.timeseries import LombScargle

from hbm.dyson_spheres.lightcurves import groups, validate_light_curves

MAX_FREQUENCY = 1.0
"""Default upper end of the frequency search, cycles per day (periods of a day or longer)."""

SAMPLES_PER_PEAK = 50
"""Default oversampling of the periodogram grid (points per peak width 1 / baseline)."""


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
        A light-curve table (see :func:`validate_light_curves`).
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
    df = validate_light_curves(df)
    if not maximum_frequency > 0:
        raise ValueError(f"maximum_frequency must be positive, got {maximum_frequency}")
    out = {}
    for name, t, y, dy in groups(df):
        fmin = 1.0 / (t.max() - t.min()) if minimum_frequency is None else float(minimum_frequency)
        if not 0 < fmin < maximum_frequency:
            raise ValueError(f"object {name!r}: need 0 < minimum_frequency ({fmin:g}) < maximum_frequency "
                             f"({maximum_frequency:g})")
        ls = LombScargle(t, y, dy)
        frequency, power = ls.autopower(minimum_frequency=fmin, maximum_frequency=maximum_frequency,
                                        samples_per_peak=samples_per_peak)
        out[name] = (ls, frequency, power)
    return out


def basin(values: np.ndarray, i: int) -> tuple[int, int]:
    """Indices of the minima of ``values`` on either side of the local maximum at ``i``."""
    lo = i
    while lo > 0 and values[lo - 1] < values[lo]:
        lo -= 1
    hi = i
    while hi < values.size - 1 and values[hi + 1] < values[hi]:
        hi += 1
    return lo, hi


def local_maxima(values: np.ndarray) -> np.ndarray:
    """Indices of the local maxima of a 1-d array (the ends count if they are higher than their
    neighbour), highest first."""
    padded = np.concatenate([[-np.inf], values, [-np.inf]])
    is_peak = (padded[1:-1] > padded[:-2]) & (padded[1:-1] >= padded[2:])
    peaks = np.flatnonzero(is_peak)
    return peaks[np.argsort(values[peaks], kind="stable")[::-1]]


def top_peaks(df: pd.DataFrame, n_peaks: int = 3, **search) -> pd.DataFrame:
    """The highest periodogram peaks of every object.

    Parameters
    ----------
    df : pandas.DataFrame
        A light-curve table (see :func:`validate_light_curves`).
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
        peaks = local_maxima(power)[:n_peaks]
        fap = np.atleast_1d(ls.false_alarm_probability(power[peaks], minimum_frequency=frequency[0],
                                                       maximum_frequency=frequency[-1]))
        for rank, (i, p) in enumerate(zip(peaks, fap), start=1):
            lo, hi = basin(power, i)
            rows.append({"object_id": name, "rank": rank, "frequency": frequency[i],
                         "period": 1 / frequency[i], "power": power[i], "false_alarm_probability": float(p),
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
    return (peaks.set_index("object_id")[["frequency", "lower", "upper"]]
            .rename(columns={"frequency": "peak"}))


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
