"""Light-curve tables: validation and per-object summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hbm.data import DYSON_SPHERES, validate

COLUMNS = tuple(DYSON_SPHERES)
"""The columns a light-curve table must have (see ``data/README.md``)."""

MIN_POINTS = 6
"""Fewest observations an object needs: the sinusoid has four parameters."""


def validate_light_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Validate a light-curve table.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``object_id``, ``time``, ``flux`` and ``flux_err``, one row per
        observation, each object's rows in increasing time (as
        ``hbm.data.load("dyson_spheres")`` returns them).

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
            raise ValueError(f"light-curve table: object {name!r} has {len(group)} observations; at least "
                             f"{MIN_POINTS} are needed to fit a sinusoid (mean flux, amplitude, frequency, "
                             "phase)")
        steps = np.diff(group["time"].to_numpy())
        if np.any(steps <= 0):
            i = int(np.flatnonzero(steps <= 0)[0])
            row, prev = int(group.index[i + 1]), int(group.index[i])
            what = "a duplicate time" if steps[i] == 0 else "rows out of time order"
            raise ValueError(
                f"light-curve table: object {name!r}, column 'time', row {row}: "
                f"{group['time'].iloc[i + 1]} follows {group['time'].iloc[i]} (row {prev}), {what}; "
                "each object's times must be strictly increasing (sort with "
                "df.sort_values(['object_id', 'time']) and remove repeated observations)")
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
        A light-curve table (see :func:`validate_light_curves`).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``object_id``: ``n`` (observations), ``baseline`` (days),
        ``mean_flux``, ``relative_scatter`` (sample sd of the flux over its
        mean), ``relative_noise`` (root-mean-square flux error over the mean
        flux) and ``rel_amplitude_estimate``.
    """
    df = validate_light_curves(df)
    g = df.groupby("object_id", sort=False)
    out = pd.DataFrame({"n": g.size(), "baseline": g["time"].max() - g["time"].min(),
                        "mean_flux": g["flux"].mean()})
    var = g["flux"].var(ddof=1)
    noise = g["flux_err"].apply(lambda e: np.mean(e**2))
    out["relative_scatter"] = np.sqrt(var) / out["mean_flux"]
    out["relative_noise"] = np.sqrt(noise) / out["mean_flux"]
    out["rel_amplitude_estimate"] = np.sqrt(2 * np.clip(var - noise, 0, None)) / out["mean_flux"]
    out.index.name = "object_id"
    return out


def groups(df: pd.DataFrame):
    """``(object_id, t, flux, flux_err)`` of each object of a validated table, in table order."""
    for name, group in df.groupby("object_id", sort=False):
        yield name, group["time"].to_numpy(), group["flux"].to_numpy(), group["flux_err"].to_numpy()
