"""The Schools data as the model sees them: validation and design matrices.

For pupil ``p`` in school ``j`` the model's mean is
``alpha[j,1] + alpha[j,2] LRT[p] + alpha[j,3] VR1[p] + X[p] @ beta``: :func:`validate_schools`
returns ``Z`` (the columns of ``alpha``) and ``X`` (the eight covariates of ``beta`` in BUGS
order) from the pupil table of ``hbm.data.load("london_schools")``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BETA_COLUMNS = ["LRT2", "vr2", "girl", "girls_school", "boys_school",
                "church_of_england", "roman_catholic", "other_denomination"]
"""The covariates of ``beta[1..8]`` in BUGS order: LRT^2, VR band 2, girl, girls' school, boys'
school, Church of England, Roman Catholic, other denomination."""

ALPHA_COLUMNS = ["intercept", "LRT", "vr1"]
"""The school-specific coefficients ``alpha[j, 1..3]``: intercept, LRT slope, VR band 1."""

PRIOR_SD = 100.0
"""Standard deviation of the vague normal priors of ``beta``, ``gamma``, ``theta``, ``phi``
(BUGS: precision 1e-4)."""

VAGUE_PRIOR = {"dist": "Normal", "mu": 0.0, "sigma": PRIOR_SD}
"""The BUGS prior of ``beta``, ``gamma``, ``theta`` and ``phi``, in the book's prior shape."""

WISHART_DF = 3
"""Degrees of freedom of the Wishart prior on the precision matrix ``T``."""

NODES = [f"beta[{k}]" for k in range(1, 9)] + [f"gamma[{k}]" for k in range(1, 4)] + ["phi", "theta"]
"""The 13 BUGS nodes of the published table."""

PUPIL_COLUMNS = ["school", "Y", "LRT", "vr1", "vr2", "girl", "girls_school", "boys_school",
                 "church_of_england", "roman_catholic", "other_denomination"]
"""The columns of the pupil table the model reads."""


def validate_schools(df: pd.DataFrame, *, source: str = "pupil table") -> dict:
    """Validate the pupil table and return the arrays of the Schools model.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per pupil with the columns :data:`PUPIL_COLUMNS` (as returned by
        ``hbm.data.load("london_schools")``) and the 3x3 Wishart scale matrix in
        ``df.attrs["R"]``.
    source : str
        What the table is, for error messages.

    Returns
    -------
    dict
        ``y`` (N,), ``lrt`` (N,), ``X`` (N, 8) for ``beta``, ``Z`` (N, 3) for ``alpha``,
        ``school`` (N,) 0-based index, ``M`` number of schools, ``R`` (3, 3): copies, so the
        caller's table is never changed.

    Raises
    ------
    ValueError
        Naming the source, the column and the row (counted from 1) of a missing or bad value.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{source}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in PUPIL_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}")
    R = np.array(df.attrs.get("R", np.nan), dtype=float)
    if R.shape != (3, 3) or not np.all(np.isfinite(R)):
        raise ValueError(f'{source}: df.attrs["R"] must be the 3x3 Wishart scale matrix')
    if not np.allclose(R, R.T) or np.any(np.linalg.eigvalsh(R) <= 0):
        raise ValueError(f'{source}: df.attrs["R"] must be symmetric positive definite')
    for column in PUPIL_COLUMNS:
        values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"{source}: column '{column}', row {int(np.flatnonzero(bad)[0]) + 1}: "
                             "missing, non-numeric or infinite value")
    school = df["school"].to_numpy(dtype=float)
    off = (school < 1) | (school != np.round(school))
    if off.any():
        raise ValueError(f"{source}: column 'school', row {int(np.flatnonzero(off)[0]) + 1}: "
                         "schools are numbered 1..M")
    school = school.astype(int)
    M = int(school.max())
    empty = np.flatnonzero(np.bincount(school, minlength=M + 1)[1:] == 0)
    if empty.size:
        raise ValueError(f"{source}: column 'school': school(s) {(empty + 1).tolist()} have no pupils; "
                         "number the schools 1..M, each with at least one pupil")
    lrt = df["LRT"].to_numpy(dtype=float).copy()
    X = np.column_stack([lrt**2] + [df[c].to_numpy(dtype=float) for c in BETA_COLUMNS[1:]])
    Z = np.column_stack([np.ones_like(lrt), lrt, df["vr1"].to_numpy(dtype=float)])
    return {"y": df["Y"].to_numpy(dtype=float).copy(), "lrt": lrt, "X": X, "Z": Z,
            "school": school - 1, "M": M, "R": R}
