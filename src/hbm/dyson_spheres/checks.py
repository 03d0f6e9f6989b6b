"""Self-checks of chapter 3: each compares a student's answer with a reference computed here."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hbm.checks import CheckResult, check_close


@lru_cache(maxsize=1)
def _data():
    from hbm import data

    return data.load("dyson_spheres")


def check_rel_amplitude_estimates(estimates) -> CheckResult:
    """Excess-variance relative amplitudes of the eight objects, in object order (DS-01 first),
    within 0.005."""
    from hbm.dyson_spheres.lightcurves import light_curve_summary

    reference = light_curve_summary(_data())["rel_amplitude_estimate"].to_numpy()
    return check_close("ds-amplitudes", estimates, reference, atol=0.005, what="relative amplitude estimates")


def check_top_frequencies(frequencies) -> CheckResult:
    """Highest Lomb-Scargle peak of each object (cycles/day), in object order, within 0.002."""
    from hbm.dyson_spheres.periodogram import top_peaks

    reference = top_peaks(_data(), n_peaks=1)["frequency"].to_numpy()
    return check_close("ds-top-peaks", frequencies, reference, atol=0.002, what="top-peak frequencies")


@lru_cache(maxsize=1)
def _window_means() -> np.ndarray:
    """Exact posterior mean frequency of each object inside its window (flat coefficient priors,
    log-uniform frequency)."""
    from hbm.dyson_spheres.exact import frequency_posterior
    from hbm.dyson_spheres.periodogram import frequency_windows

    df = _data()
    windows = frequency_windows(df)
    means = []
    for name, g in df.groupby("object_id", sort=False):
        f = np.linspace(windows.loc[name, "lower"], windows.loc[name, "upper"], 4001)
        density = frequency_posterior(g["time"], g["flux"], g["flux_err"], f) / f
        means.append(np.sum(f * density) / density.sum())
    return np.array(means)


def check_frequency_means(means) -> CheckResult:
    """Posterior mean frequency of each object (cycles/day) in its periodogram window, in object
    order, within 0.001.

    The reference is the exact single-object posterior in the object's window (flat priors on
    the sinusoid's linear coefficients, log-uniform frequency); the window-restricted
    hierarchical fit agrees with it to well within the tolerance (its population is some 25%
    wide in frequency and moves a frequency by far less than 0.001).
    """
    return check_close("ds-frequency-means", means, _window_means(), atol=0.001,
                       what="posterior mean frequencies")


@lru_cache(maxsize=1)
def _grid_reference():
    from hbm.dyson_spheres.exact import frequency_grid
    from hbm.dyson_spheres.mixture import frequency_summary, population_quadrature
    from hbm.dyson_spheres.models import GRID_PRIORS

    grid = frequency_grid(_data())
    points, weights = population_quadrature(grid, GRID_PRIORS)
    return grid, points, weights, frequency_summary(grid, weights, prob=0.94)


def check_frequency_intervals(lower, upper) -> CheckResult:
    """Equal-tailed 94% intervals (3% and 97% quantiles) of each object's frequency under the grid
    model with the population (``build_grid_model`` with its default priors), in object order.

    The reference is the same model's exact posterior (the population integrated by quadrature).
    The check reads each end's probability under it: the posterior probability below ``lower``
    must be 3% and below ``upper`` 97%, each within 1 percentage point. So an interval can be no
    wider than the reference's 96% interval and no narrower than its 92% interval. (Comparing
    ends in probability rather than in frequency keeps the check fair when an end falls in the gap
    between two peaks, where the quantile is not well determined.)
    """
    name = "ds-frequency-intervals"
    grid, _, weights, reference = _grid_reference()
    try:
        lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    except (TypeError, ValueError):
        return CheckResult(name, False, "the interval ends must be arrays of numbers")
    n = len(reference)
    if lower.shape != (n,) or upper.shape != (n,):
        return CheckResult(name, False, f"give {n} lower and {n} upper ends, one per object; got shapes "
                           f"{lower.shape} and {upper.shape}")
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper)) and np.all(lower < upper)):
        return CheckResult(name, False, "each interval needs finite ends with the lower end below the upper end")
    prob = np.empty((n, 2))
    for k in range(n):
        f, step = grid.frequency[k], grid.step[k]
        edges = np.concatenate([[f[0] - step / 2], f + step / 2])
        cdf = np.concatenate([[0.0], np.cumsum(weights[k] / weights[k].sum())])
        prob[k] = np.interp([lower[k], upper[k]], edges, cdf)
    wide = (prob[:, 0] < 0.02) | (prob[:, 1] > 0.98)
    narrow = (prob[:, 0] > 0.04) | (prob[:, 1] < 0.96)
    if wide.any() or narrow.any():
        parts = []
        if wide.any():
            parts.append(f"reach too far into the tails at position(s) {np.flatnonzero(wide).tolist()}")
        if narrow.any():
            parts.append(f"cut off too much of a tail at position(s) {np.flatnonzero(narrow).tolist()}")
        return CheckResult(name, False, "the 94% frequency intervals " + " and ".join(parts)
                           + " (each tail should hold 3% of the posterior, tolerance 1 percentage point); "
                           "check your model and quantiles")
    return CheckResult(name, True, "the 94% frequency intervals agree with the worked solution (each tail "
                       "holds 3% of the posterior within 1 percentage point)")


def check_top_peak_masses(masses) -> CheckResult:
    """Posterior probability of each object's most probable peak under the grid model with the
    population (``build_grid_model`` with its default priors), in object order, within 0.01.

    A peak is a basin of the object's marginal likelihood between its minima
    (``hbm.dyson_spheres.peak_masses``). The reference is the same model's exact answer, the
    population integrated by quadrature.
    """
    from hbm.dyson_spheres.mixture import peak_masses

    grid, _, weights, _ = _grid_reference()
    table = peak_masses(grid, {"population": weights}, n_peaks=1)
    return check_close("ds-peak-masses", masses, table["population"].to_numpy(), atol=0.01,
                       what="probabilities of the most probable peaks")


def check_window_mass(masses) -> CheckResult:
    """Posterior probability (no pooling, log-uniform frequency, flat coefficient priors) that each
    frequency lies in its window, in object order, within 0.005."""
    return check_close("ds-window-mass", masses, _window_mass_reference(), atol=0.005, what="window probabilities")


@lru_cache(maxsize=1)
def _window_mass_reference() -> np.ndarray:
    """Exact posterior probability of each object's window (no pooling, log-uniform frequency):
    computed once, so a second check costs nothing."""
    from hbm.dyson_spheres.exact import window_mass
    from hbm.dyson_spheres.periodogram import frequency_windows

    df = _data()
    return window_mass(df, frequency_windows(df)).to_numpy()
